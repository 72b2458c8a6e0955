"""Exercise `attention_2d` (notebook 06): attention over the pixels of a feature map."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from course_lib import unet
from course_lib.checking import Case, Props, close, equals_input, exercise
from course_lib.exercises.common import gen, pick
from course_lib.exercises.nb06.attention import attention
from course_lib.exercises.nb06.probes import fixed, random_affine


# <solution cell>
def attention_2d(block, x: torch.Tensor, context=None, mask=None) -> torch.Tensor:
    """The attention block of section 4 on a feature map x (B, C, H, W), from the block's
    parts: self-attention among the pixels, or cross-attention to context (B, L, D_ctx)
    with mask None or (B, L) bool. Returns (B, C, H, W), the residual included."""
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
    # not 4 heads nor 8 groups, a random GroupNorm weight and bias, one image of 3 x 5 pixels
    h = gen(165)
    heads, groups = pick(165, 3, 2, 6), pick(166, 3, 2, 6)
    affine = fixed(lambda: unet.Attention2d(12, heads=heads, groups=groups), 167)
    random_affine(affine.norm, h)
    x1 = torch.randn(1, 12, 3, 5, generator=h)
    # cross-attention in float64, a batch of 3, a context of 7 tokens, x differentiated
    cross64 = fixed(lambda: unet.Attention2d(12, heads=heads, context_dim=10, groups=groups),
                    168).double()
    random_affine(cross64.norm, h)
    x3 = torch.randn(3, 12, 3, 3, generator=h, dtype=torch.float64).requires_grad_()
    ctx3 = torch.randn(3, 7, 10, generator=h, dtype=torch.float64)
    mask3 = torch.cat([torch.rand(3, 6, generator=h) < 0.6, torch.ones(3, 1, dtype=torch.bool)], 1)
    return {"self": Case((self_attn, x)), "cross": Case((cross, x, ctx, mask)),
            "silent": Case((silent, x)), "affine": Case((affine, x1)),
            "cross64": Case((cross64, x3, ctx3, mask3))}


PROPS = Props()


PROPS("""is x when the output projection is zero (residual)

      the block adds its attention output to its un-normalised input x, in x's (B, C, H, W)
      layout: with a zero output projection, x itself must come out

      code: add x (not block.norm of x) to the projected output, brought back to (B, C, H, W),
      out of place (no +=)""",
      equals_input(cases, "silent", 1, "x"))


def _a2d(block, x, context=None, mask=None, residual=True, transpose=True, heads=True,
         norm=None, n_heads=None, kv_len="own"):
    B, C, H, W = x.shape
    t = (block.norm(x) if norm is None else norm(block.norm, x)).reshape(B, C, H * W)
    t = t.transpose(1, 2) if transpose else t.reshape(B, H * W, C)
    src = t if context is None else context
    q, k, v = block.to_q(t), block.to_k(src), block.to_v(src)
    n = (n_heads or block.heads) if heads else 1

    def split(z):
        return z.reshape(B, z.shape[1] if kv_len == "own" else H * W, n, -1).transpose(1, 2)

    o = unet.attention(split(q), split(k), split(v), mask)
    o = block.proj(o.transpose(1, 2).reshape(B, H * W, C))
    o = o.transpose(1, 2).reshape(B, C, H, W)
    return x + o if residual else o


def _into_x(block, x, context=None, mask=None):
    x += _a2d(block, x, context, mask, residual=False)
    return x


@torch.no_grad()
def _no_grad(block, x, context=None, mask=None):
    return _a2d(block, x, context, mask)


def _permuted(block, x, context=None, mask=None):
    B, C, H, W = x.shape
    t = block.norm(x).flatten(2).mT                                   # (B, HW, C)
    src = t if context is None else context
    n = block.heads
    q = block.to_q(t).view(B, -1, n, C // n).permute(0, 2, 1, 3)
    k = block.to_k(src).view(B, src.shape[1], n, C // n).permute(0, 2, 1, 3)
    v = block.to_v(src).view(B, src.shape[1], n, C // n).permute(0, 2, 1, 3)
    o = attention(q, k, v, mask).permute(0, 2, 1, 3).reshape(B, H * W, C)
    return x + block.proj(o).mT.reshape(B, C, H, W)


def _plain_norm(n, t):
    return F.group_norm(t, n.num_groups, eps=n.eps)


def _eight_groups(n, t):
    return F.group_norm(t, 8, n.weight, n.bias, n.eps)


BUGS = {
    "no residual": lambda b, x, c=None, m=None: _a2d(b, x, c, m, residual=False),
    "reshape instead of transpose": lambda b, x, c=None, m=None: _a2d(b, x, c, m, transpose=False),
    "one head": lambda b, x, c=None, m=None: _a2d(b, x, c, m, heads=False),
    "[held] GroupNorm without the block's weight and bias":
        lambda b, x, c=None, m=None: _a2d(b, x, c, m, norm=_plain_norm),
    "[held] 8 groups hard-coded": lambda b, x, c=None, m=None: _a2d(b, x, c, m, norm=_eight_groups),
    "[held] 4 heads hard-coded": lambda b, x, c=None, m=None: _a2d(b, x, c, m, n_heads=4),
    "[held] keys split with the pixel count (self-attention only)":
        lambda b, x, c=None, m=None: _a2d(b, x, c, m, kv_len="pixels"),
    "[alias] adds the attention output into x in place": _into_x,
    "[grad] computes under torch.no_grad()": _no_grad,
}
ALTERNATIVES = {"flatten, .mT, view and permute": _permuted}

PROPS("""matches the reference for self-attention

      one token per pixel, each a vector of C channels; the channels of q, k and v are split
      into the block's heads, each head attends on its own, and the heads are merged back before
      the projection

      code: (B, C, H, W) to (B, C, HW), then swap the last two axes for (B, HW, C): a reshape
      straight to (B, HW, C) mixes channels and pixels; heads: (B, T, C) to (B, T, heads, C /
      heads), then swap axes 1 and 2""",
      close("self", atol=1e-5))

PROPS("""matches the reference for cross-attention with a mask

      queries come from the pixels, keys and values from the context tokens; the mask says which
      context tokens may be attended to

      code: block.to_q of the pixel tokens; block.to_k and block.to_v of context when it is not
      None; pass mask on to your attention""",
      close("cross", atol=1e-5))

PROPS("""uses the block's own norm, head count and group count (a batch of one, odd sizes)

      the block's GroupNorm has its own group count and learned scale and shift, the head count
      is the block's, and keys and values have as many tokens as the context, not as many as
      there are pixels

      code: call block.norm and split into block.heads heads; reshape k and v with their own
      length, t.shape[1], not H * W""",
      close("affine", "cross64", atol=1e-5))

EXERCISE = exercise(globals(), points=3, summary="attention over the pixels of a feature map",
                    reread="4. Attention")
