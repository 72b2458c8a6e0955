"""Exercise `patchify` (notebook 12): cut a latent image into p x p patches, one token each,
in reading order, each token's features in the order (row in the patch, column, channel)."""
from __future__ import annotations

import torch

from course_lib.checking import Case, Props, close, exercise
from course_lib.exercises.common import gen, pick


# <solution cell>
def patchify(z: torch.Tensor, p: int) -> torch.Tensor:
    """The tokens of section 8: z (B, C, H, W), H and W multiples of p, cut into square
    patches of side p; the patches in reading order (left to right, then top to bottom),
    each one flattened in the order of equation (P). Returns (B, N, D): N tokens, one per
    patch, of D values each (every value of its patch)."""
    ### BEGIN SOLUTION
    B, C, H, W = z.shape
    z = z.reshape(B, C, H // p, p, W // p, p)         # (B, C, h, p, w, p)
    z = z.permute(0, 2, 4, 3, 5, 1)                   # (B, h, w, p, p, C)
    return z.reshape(B, (H // p) * (W // p), p * p * C)
    ### END SOLUTION
# </solution cell>


def _labelled(B: int, C: int, H: int, W: int, dtype=torch.float32) -> torch.Tensor:
    """A tensor whose every entry tells where it came from: 1000 b + 100 c + 10 row + col."""
    b, c, r, w = torch.meshgrid(*(torch.arange(n, dtype=dtype) for n in (B, C, H, W)),
                                indexing="ij")
    return 1000 * b + 100 * c + 10 * r + w


def cases() -> dict[str, Case]:
    g = gen(1251)
    z = torch.randn(2, 4, 8, 8, generator=g)
    h = gen(1252)
    shape = pick(1253, (3, 3, 6, 4), (1, 2, 4, 6), (5, 1, 6, 6), (2, 3, 8, 4))
    odd = torch.randn(shape, generator=h, dtype=torch.float64).requires_grad_()
    p3 = torch.randn(pick(1254, 1, 3, 2), 2, 9, 6, generator=h)
    return {"latents": Case((z, 2)),
            "labelled": Case((_labelled(2, 3, 4, 6), 2)),
            "odd": Case((odd, 2)),
            "p3": Case((p3, 3)),
            "p1": Case((z[:1].clone(), 1)),
            "whole": Case((z[1:].clone(), 8))}


PROPS = Props()


@PROPS
def _reading_order(outs, refs):
    """tokens come in reading order, each token one patch

    token n is the patch in patch-row n // (W/p) and patch-column n % (W/p): left to right along
    the top row of patches first; every value of that patch, and no other, is in that token

    code: split H into (H/p, p) and W into (W/p, p) with one reshape, then .permute so that the
    two patch-grid axes come right after the batch axis"""
    got = torch.as_tensor(outs["labelled"].value)
    want = torch.as_tensor(refs["labelled"].value)
    if got.shape != want.shape:
        return False, f"shape {tuple(got.shape)}, expected {tuple(want.shape)}"
    # which pixel positions each token holds (row and column digits of the labels)
    pos = lambda v: sorted((v % 100).round().long().tolist())  # noqa: E731
    for n in range(want.shape[1]):
        if pos(got[0, n]) != pos(want[0, n]):
            return False, (f"token {n} holds pixels {pos(got[0, n])[:4]}..., expected "
                           f"{pos(want[0, n])[:4]}... (labels are 10 * row + column)")
    return True, "every token holds its own patch"


PROPS("""each token's features in the order (row in the patch, column, channel)

      the features of a token list the patch's top-left pixel's channels first, then the pixel
      to its right: channels vary fastest, then the column in the patch, then the row

      code: after the reshape, .permute the axes to (batch, patch row, patch column, row in the
      patch, column in the patch, channel) before the final reshape""",
      close("labelled", "latents", atol=0, rtol=0))


def _order(z, p, grid="hw", inner="pqc"):
    B, C, H, W = z.shape
    x = z.reshape(B, C, H // p, p, W // p, p)                            # b c h p w q
    axes = {"h": 2, "w": 4, "p": 3, "q": 5, "c": 1}
    x = x.permute(0, *(axes[a] for a in grid), *(axes[a] for a in inner))
    return x.reshape(B, (H // p) * (W // p), p * p * C)


def _raw_view(z, p):
    B, C, H, W = z.shape
    return z.reshape(B, (H // p) * (W // p), p * p * C)


def _square(z, p):
    B, C, H, _ = z.shape
    return _order(z.reshape(B, C, H, H), p)


def _unfold(z, p):
    B, C, H, W = z.shape
    x = torch.nn.functional.unfold(z, p, stride=p)            # (B, C p p, L), (c, p, q)
    return x.reshape(B, C, p * p, -1).permute(0, 3, 2, 1).reshape(B, -1, p * p * C)


def _two_steps(z, p):
    B, C, H, W = z.shape
    x = z.unfold(2, p, p).unfold(3, p, p)                     # (B, C, h, w, p, q)
    return x.permute(0, 2, 3, 4, 5, 1).reshape(B, -1, p * p * C)


BUGS = {
    "patches in column order (transposed grid)": lambda z, p: _order(z, p, grid="wh"),
    "features (channel, row, column): conv / unfold order": lambda z, p: _order(z, p, inner="cpq"),
    "row and column inside the patch swapped": lambda z, p: _order(z, p, inner="qpc"),
    "a raw reshape without permuting": _raw_view,
    "[held] p = 2 hard-coded": lambda z, p: _order(z, 2),
    "[held] square images only (W taken as H)": _square,
    "[dtype] tokens in float32": lambda z, p: _order(z.float(), p),
    "[grad] through numpy": lambda z, p: torch.from_numpy(_order(z.detach(), p).numpy()),
}


ALTERNATIVES = {
    "F.unfold, then reordered": _unfold,
    "Tensor.unfold twice": _two_steps,
    "einops-style rearrange by hand": lambda z, p: torch.einsum(
        "bchpwq->bhwpqc", z.reshape(z.shape[0], z.shape[1], z.shape[2] // p, p,
                                    z.shape[3] // p, p)).reshape(
        z.shape[0], -1, p * p * z.shape[1]),
}

PROPS("""works for any p, odd batches, non-square latents, in float64

      nothing about the patch size, the channel count or the image's height and width is fixed:
      read them from the inputs

      code: take B, C, H, W from z.shape and use p everywhere a patch size appears""",
      close("odd", "p3", "p1", "whole", atol=0, rtol=0))

EXERCISE = exercise(globals(), points=2, summary="cutting a latent into patch tokens",
                    reread="8. A diffusion transformer (DiT)")
