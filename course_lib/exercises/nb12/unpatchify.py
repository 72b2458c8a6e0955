"""Exercise `unpatchify` (notebook 12): the inverse of patchify, tokens back to a latent."""
from __future__ import annotations

import torch

from course_lib.checking import Case, Props, close, equals, exercise
from course_lib.exercises.common import gen, pick
from course_lib.exercises.nb12.patchify import patchify


# <solution cell>
def unpatchify(tokens: torch.Tensor, p: int, height: int, width: int) -> torch.Tensor:
    """The latent image that patchify cut into these tokens (section 8): tokens (B, N, D),
    one per patch of side p in patchify's order and layout, back to the latent
    (B, C, height, width) they came from."""
    ### BEGIN SOLUTION
    B, N, D = tokens.shape
    h, w, C = height // p, width // p, D // (p * p)
    x = tokens.reshape(B, h, w, p, p, C)              # (B, h, w, p, p, C)
    x = x.permute(0, 5, 1, 3, 2, 4)                   # (B, C, h, p, w, p)
    return x.reshape(B, C, height, width)
    ### END SOLUTION
# </solution cell>


def cases() -> dict[str, Case]:
    g = gen(1261)
    z = torch.randn(2, 4, 8, 8, generator=g)
    h = gen(1262)
    B, C, H, W = pick(1263, (3, 3, 6, 4), (1, 2, 4, 6), (5, 1, 6, 6), (2, 3, 8, 4))
    odd = torch.randn(B, (H // 2) * (W // 2), 4 * C, generator=h,
                      dtype=torch.float64).requires_grad_()
    t3 = torch.randn(pick(1264, 1, 3, 2), 6, 18, generator=h)   # p = 3 on a 9 x 6 latent
    return {"tokens": Case((patchify(z, 2), 2, 8, 8)),
            "odd": Case((odd, 2, H, W)),
            "p3": Case((t3, 3, 9, 6)),
            "p1": Case((patchify(z[:1], 1), 1, 8, 8))}


PROPS = Props()


PROPS("""undoes patchify: unpatchify(patchify(z)) is z

      each token goes back to its own place in the grid of patches, and each of its features back
      to its pixel and channel, in the order patchify wrote them

      code: reshape the tokens to split the token axis into the two patch-grid axes and the
      feature axis into patch row, patch column and channel; .permute so that channels come after
      the batch and each patch-grid axis sits next to its own axis inside the patch; then one
      reshape""",
      equals(cases, "tokens", lambda *args: torch.randn(2, 4, 8, 8, generator=gen(1261)),
             "z, the latents patchify was given", atol=0))


def _order(tokens, p, height, width, grid="hw", inner="pqc"):
    B, N, D = tokens.shape
    C = D // (p * p)
    names = {"h": height // p, "w": width // p, "p": p, "q": p, "c": C}
    x = tokens.reshape(B, *(names[a] for a in grid), *(names[a] for a in inner))
    order = grid + inner
    x = x.permute(0, *(1 + order.index(a) for a in "chpwq"))
    return x.reshape(B, C, height, width)


def _einsum(tokens, p, height, width):
    B, _, D = tokens.shape
    x = tokens.reshape(B, height // p, width // p, p, p, D // (p * p))
    return torch.einsum("bhwpqc->bchpwq", x).reshape(B, -1, height, width)


def _fold(tokens, p, height, width):
    B, N, D = tokens.shape
    C = D // (p * p)
    cols = tokens.reshape(B, N, p * p, C).permute(0, 3, 2, 1).reshape(B, C * p * p, N)
    return torch.nn.functional.fold(cols, (height, width), p, stride=p)


def _four_channels(tokens, p, height, width):
    x = tokens.reshape(tokens.shape[0], height // p, width // p, p, p, 4)
    return x.permute(0, 5, 1, 3, 2, 4).reshape(tokens.shape[0], 4, height, width)


BUGS = {
    "patches placed in column order (transposed grid)":
        lambda t, p, h, w: _order(t, p, h, w, grid="wh"),
    "features read as (channel, row, column)": lambda t, p, h, w: _order(t, p, h, w, inner="cpq"),
    "row and column inside the patch swapped": lambda t, p, h, w: _order(t, p, h, w, inner="qpc"),
    "a raw reshape without permuting": lambda t, p, h, w: t.reshape(t.shape[0], -1, h, w),
    "[held] 4 channels hard-coded": _four_channels,
    "[held] square latents only (width taken as height)":
        lambda t, p, h, w: _order(t, p, h, h),
}
ALTERNATIVES = {
    "einsum": _einsum,
    "F.fold of the reordered tokens": _fold,
}

PROPS("""works for any p, odd batches, non-square latents, in float64

      the channel count is the token size divided by p * p; the grid of patches is height/p by
      width/p: read every size from the arguments

      code: C from tokens.shape[-1] // (p * p); no 4, 8 or 2 written into the code""",
      close("odd", "p3", "p1", atol=0, rtol=0))

EXERCISE = exercise(globals(), points=1, summary="tokens back to a latent image",
                    reread="8. A diffusion transformer (DiT)")
