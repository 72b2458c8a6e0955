"""Exercise `resblock_forward` (notebook 06): the residual block's forward pass."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from course_lib import unet
from course_lib.checking import Case, Props, close, exercise
from course_lib.exercises.common import gen
from course_lib.exercises.nb06.probes import fixed


# <solution cell>
def resblock_forward(block, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
    """norm1 -> SiLU -> conv1, + emb per channel, norm2 -> SiLU -> conv2, + skip(x)."""
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
    return {"wide": Case((wide, x8, emb)), "wide_emb2": Case((wide, x8, emb2)),
            "same": Case((same, x16, emb)), "zeroed": Case((zeroed, x8, emb))}


PROPS = Props()


@PROPS("is skip(x) when conv2 is zero",
       "return block.skip(x) + h: the residual path is added to the skip")
def _res_zeroed(outs, refs):
    block, x, _ = cases()["zeroed"].args
    diff = (outs["zeroed"].value - block.skip(x)).abs().max().item()
    return diff < 1e-6, f"with conv2 = 0 the block must return skip(x): max diff {diff:.1e}"


@PROPS("depends on the embedding",
       "add block.emb(emb)[:, :, None, None] to h after conv1")
def _res_uses_emb(outs, refs):
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


BUGS = {
    "embedding after conv2": lambda b, x, e: _res(b, x, e, where="after_conv2"),
    "no skip": lambda b, x, e: _res(b, x, e, skip=False),
    "SiLU before the norm": lambda b, x, e: _res(b, x, e, act_first=True),
    "ignores the embedding": lambda b, x, e: _res(b, x, e, where="nowhere"),
}

PROPS("matches the reference, with and without a 1x1 skip",
      "order: norm1 -> SiLU -> conv1, + emb, norm2 -> SiLU -> conv2; F.silu",
      close("wide", "same", atol=1e-5))

EXERCISE = exercise(globals(), points=3, summary="the residual block's forward pass")
