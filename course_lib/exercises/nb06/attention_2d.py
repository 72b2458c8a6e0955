"""Exercise `attention_2d` (notebook 06): attention over the pixels of a feature map."""
from __future__ import annotations

import torch

from course_lib import unet
from course_lib.checking import Case, Props, close, exercise
from course_lib.exercises.common import gen
from course_lib.exercises.nb06.attention import attention
from course_lib.exercises.nb06.probes import fixed


# <solution cell>
def attention_2d(block, x: torch.Tensor, context=None, mask=None) -> torch.Tensor:
    """Pixels as tokens, multi-head (self- or cross-) attention, back to (B, C, H, W), + x."""
    ### BEGIN SOLUTION
    B, C, H, W = x.shape
    tokens = block.norm(x).reshape(B, C, H * W).transpose(1, 2)   # (B, HW, C)
    source = tokens if context is None else context
    q, k, v = block.to_q(tokens), block.to_k(source), block.to_v(source)

    def heads(t):
        return t.reshape(B, t.shape[1], block.heads, -1).transpose(1, 2)

    out = attention(heads(q), heads(k), heads(v), mask)         # (B, heads, HW, C/heads)
    out = block.proj(out.transpose(1, 2).reshape(B, H * W, C))
    return x + out.transpose(1, 2).reshape(B, C, H, W)
    ### END SOLUTION
# </solution cell>


def cases() -> dict[str, Case]:
    g = gen(65)
    self_attn = fixed(lambda: unet.Attention2d(16, heads=4), 66)
    cross = fixed(lambda: unet.Attention2d(16, heads=2, context_dim=12), 67)
    silent = fixed(lambda: unet.Attention2d(16, heads=4), 66)
    with torch.no_grad():
        silent.proj.weight.zero_()
        silent.proj.bias.zero_()
    x = torch.randn(2, 16, 4, 3, generator=g)
    ctx = torch.randn(2, 5, 12, generator=g)
    mask = torch.tensor([[True] * 5, [True] * 3 + [False] * 2])
    return {"self": Case((self_attn, x)), "cross": Case((cross, x, ctx, mask)),
            "silent": Case((silent, x))}


PROPS = Props()


@PROPS("is x when the output projection is zero (residual)",
       "return x + the attention output, reshaped back to (B, C, H, W)")
def _a2d_residual(outs, refs):
    x = cases()["silent"].args[1]
    diff = (outs["silent"].value - x).abs().max().item()
    return diff < 1e-6, f"with proj = 0 the block must return x: max diff {diff:.1e}"


def _a2d(block, x, context=None, mask=None, residual=True, transpose=True, heads=True):
    B, C, H, W = x.shape
    t = block.norm(x).reshape(B, C, H * W)
    t = t.transpose(1, 2) if transpose else t.reshape(B, H * W, C)
    src = t if context is None else context
    q, k, v = block.to_q(t), block.to_k(src), block.to_v(src)
    n = block.heads if heads else 1

    def split(z):
        return z.reshape(B, z.shape[1], n, -1).transpose(1, 2)

    o = unet.attention(split(q), split(k), split(v), mask)
    o = block.proj(o.transpose(1, 2).reshape(B, H * W, C))
    o = o.transpose(1, 2).reshape(B, C, H, W)
    return x + o if residual else o


BUGS = {
    "no residual": lambda b, x, c=None, m=None: _a2d(b, x, c, m, residual=False),
    "reshape instead of transpose": lambda b, x, c=None, m=None: _a2d(b, x, c, m, transpose=False),
    "one head": lambda b, x, c=None, m=None: _a2d(b, x, c, m, heads=False),
}

PROPS("matches the reference for self-attention",
      "tokens = norm(x).reshape(B, C, H*W).transpose(1, 2): one token per pixel; "
      "split C into heads: (B, T, C) -> (B, heads, T, C/heads)",
      close("self", atol=1e-5))

PROPS("matches the reference for cross-attention with a mask",
      "queries come from the pixels, keys and values from the context",
      close("cross", atol=1e-5))

EXERCISE = exercise(globals(), points=3, summary="attention over the pixels of a feature map")
