"""Exercise `resblock_forward` (notebook 06): the residual block's forward pass."""
from __future__ import annotations

import copy

import torch
import torch.nn.functional as F

from course_lib import unet
from course_lib.checking import Case, Props, close, equals, exercise
from course_lib.exercises.common import gen, pick
from course_lib.exercises.nb06.probes import fixed, random_affine


# <solution cell>
def resblock_forward(block, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
    """The residual block's output of section 3, from the block's own parts.
    x: (B, C_in, H, W), emb: (B, E) -> (B, C_out, H, W)."""
    ### BEGIN SOLUTION
    h = block.conv1(F.silu(block.norm1(x)))
    h = h + block.emb(emb)[:, :, None, None]
    h = block.conv2(F.silu(block.norm2(h)))
    return block.skip(x) + h
    ### END SOLUTION
# </solution cell>


def cases() -> dict[str, Case]:
    g = gen(62)
    wide = fixed(lambda: unet.ResBlock(8, 16, 32), 63)
    same = fixed(lambda: unet.ResBlock(16, 16, 32), 64)
    zeroed = fixed(lambda: unet.ResBlock(8, 16, 32), 63)
    with torch.no_grad():
        zeroed.conv2.weight.zero_()
        zeroed.conv2.bias.zero_()
    x8, x16 = torch.randn(2, 8, 6, 6, generator=g), torch.randn(2, 16, 6, 6, generator=g)
    emb, emb2 = torch.randn(2, 32, generator=g), torch.randn(2, 32, generator=g)
    # not the course's 8 groups, random GroupNorm weights and biases, an odd batch
    h = gen(162)
    groups = pick(162, 3, 2, 6)
    affine = fixed(lambda: unet.ResBlock(6, 12, 10, groups=groups), 163)
    random_affine(affine.norm1, h)
    random_affine(affine.norm2, h)
    x6, emb10 = torch.randn(3, 6, 5, 3, generator=h), 3 * torch.randn(3, 10, generator=h)
    one = copy.deepcopy(affine).double()  # a batch of one, in float64, x differentiated
    x1 = torch.randn(1, 6, 4, 5, generator=h, dtype=torch.float64).requires_grad_()
    e1 = 3 * torch.randn(1, 10, generator=h, dtype=torch.float64)
    return {"wide": Case((wide, x8, emb)), "wide_emb2": Case((wide, x8, emb2)),
            "same": Case((same, x16, emb)), "zeroed": Case((zeroed, x8, emb)),
            "affine": Case((affine, x6, emb10)), "one": Case((one, x1, e1))}


PROPS = Props()


PROPS("""is skip(x) when conv2 is zero

      the output is the skip path plus the residual branch; with the last convolution zeroed the
      branch is 0, so the skip path alone must remain: here a 1x1 convolution of the input, since
      the channel count changes

      code: add block.skip applied to x (not x itself) to the output of block.conv2""",
      equals(cases, "zeroed", lambda block, x, emb: block.skip(x), "skip(x)", atol=1e-6))


@PROPS
def _res_uses_emb(outs, refs):
    """depends on the embedding

    the noise-level embedding, projected to one value per output channel, is added to every
    pixel between the two convolutions: a different embedding must change the output

    code: block.emb(emb) has shape (B, C_out): give it two trailing axes of size 1 so that it
    broadcasts over (B, C_out, H, W)"""
    changed = not torch.allclose(outs["wide"].value, outs["wide_emb2"].value)
    return changed, ("a different embedding changes the output" if changed
                     else "the output ignores the embedding")


def _res(block, x, emb, where="after_conv1", skip=True, act_first=False):
    nl = F.silu
    h = block.conv1(block.norm1(nl(x)) if act_first else nl(block.norm1(x)))
    if where == "after_conv1":
        h = h + block.emb(emb)[:, :, None, None]
    h = block.conv2(nl(block.norm2(h)))
    if where == "after_conv2":
        h = h + block.emb(emb)[:, :, None, None]
    return block.skip(x) + h if skip else h


def _norms(block, x, emb, groups=None, affine=True):
    def norm(n, t):
        return F.group_norm(t, groups or n.num_groups, n.weight if affine else None,
                            n.bias if affine else None, n.eps)
    h = block.conv1(F.silu(norm(block.norm1, x))) + block.emb(emb)[:, :, None, None]
    return block.skip(x) + block.conv2(F.silu(norm(block.norm2, h)))


def _squeezed(block, x, emb):
    h = block.conv1(F.silu(block.norm1(x))) + block.emb(emb).squeeze()[:, :, None, None]
    return block.skip(x) + block.conv2(F.silu(block.norm2(h)))


def _into_skip(block, x, emb):
    out = block.skip(x)          # the identity returns x itself
    out += block.conv2(F.silu(block.norm2(
        block.conv1(F.silu(block.norm1(x))) + block.emb(emb)[:, :, None, None])))
    return out


@torch.no_grad()
def _no_grad(block, x, emb):
    return _res(block, x, emb)


BUGS = {
    "embedding after conv2": lambda b, x, e: _res(b, x, e, where="after_conv2"),
    "no skip": lambda b, x, e: _res(b, x, e, skip=False),
    "SiLU before the norm": lambda b, x, e: _res(b, x, e, act_first=True),
    "ignores the embedding": lambda b, x, e: _res(b, x, e, where="nowhere"),
    "[held] GroupNorm without the block's weight and bias":
        lambda b, x, e: _norms(b, x, e, affine=False),
    "[held] 8 groups hard-coded": lambda b, x, e: _norms(b, x, e, groups=8),
    "[held] squeezes the embedding (a batch of one loses its batch axis)": _squeezed,
    "[alias] adds h into skip(x) in place": _into_skip,
    "[grad] computes under torch.no_grad()": _no_grad,
}
ALTERNATIVES = {
    "F.group_norm with the block's own settings": _norms,
    "embedding unsqueezed": lambda b, x, e: b.skip(x) + b.conv2(F.silu(b.norm2(
        b.conv1(F.silu(b.norm1(x))) + b.emb(e).unsqueeze(-1).unsqueeze(-1)))),
}

PROPS("""matches the reference, with and without a 1x1 skip

      follow the equation's order: each convolution is preceded by its GroupNorm and then SiLU,
      the embedding enters between the two convolutions, the skip path at the end

      code: F.silu after block.norm1 and block.norm2, not before them; the embedding is added to
      the output of block.conv1, not of block.conv2""",
      close("wide", "same", atol=1e-5))

PROPS("""matches the reference with the block's own norms (random weights, not 8 groups), for a
      batch of 3 and a batch of 1

      the block's GroupNorm layers carry their own group count and a learned scale and shift per
      channel; a batch of one keeps its batch axis

      code: call block.norm1 and block.norm2 themselves, not F.group_norm with 8 groups or
      without weight and bias; no .squeeze() on the projected embedding""",
      close("affine", "one", atol=1e-5))

EXERCISE = exercise(globals(), points=3, summary="the residual block's forward pass",
                    reread="3. The residual block, told the noise level")
