"""Exercise `attention` (notebook 06): scaled dot-product attention, with a key mask."""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from course_lib.checking import Case, Props, close, exercise
from course_lib.exercises.common import gen


# <solution cell>
def attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask=None) -> torch.Tensor:
    """softmax(q k^T / sqrt(d)) v; masked keys (mask False) get weight 0."""
    ### BEGIN SOLUTION
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])   # (..., Tq, Tk)
    if mask is not None:
        scores = scores.masked_fill(~mask[:, None, None, :], float("-inf"))
    return torch.softmax(scores, dim=-1) @ v
    ### END SOLUTION
# </solution cell>


def cases() -> dict[str, Case]:
    g = gen(61)
    q, k, v = (torch.randn(2, 3, 5, 8, generator=g) for _ in range(3))
    mask = torch.tensor([[True] * 5, [True, True, False, False, True]])
    same_k = torch.ones(2, 3, 5, 8)
    return {"plain": Case((q, k, v)), "masked": Case((q, k, v, mask)),
            "same_keys": Case((q, same_k, v)), "cross": Case((q, k[:, :, :4], v[:, :, :4]))}


PROPS = Props()


@PROPS("equals F.scaled_dot_product_attention (with and without a mask)",
       "scale the scores by 1 / sqrt(d), d = q.shape[-1]; a masked key gets score "
       "-inf before the softmax: mask[:, None, None, :]")
def _attn_torch(outs, refs):
    c = cases()
    q, k, v = c["plain"].args
    diff = (outs["plain"].value - F.scaled_dot_product_attention(q, k, v)).abs().max().item()
    q, k, v, mask = c["masked"].args
    want = F.scaled_dot_product_attention(q, k, v, attn_mask=mask[:, None, None, :])
    diff = max(diff, (outs["masked"].value - want).abs().max().item())
    return diff < 1e-5, f"max |yours - F.scaled_dot_product_attention| = {diff:.1e}"


@PROPS("identical keys give the average of the values",
       "softmax over the keys (the last axis of q @ k^T), then weights @ v")
def _attn_same_keys(outs, refs):
    v = cases()["same_keys"].args[2]
    want = v.mean(-2, keepdim=True).expand_as(v)
    diff = (outs["same_keys"].value - want).abs().max().item()
    return diff < 1e-5, f"identical keys must average the values: max diff {diff:.1e}"


def _attn(q, k, v, mask=None, scale="sqrt", dim=-1, use_mask=True):
    d = q.shape[-1]
    s = q @ k.transpose(-2, -1) / {"sqrt": d ** 0.5, "d": d, "none": 1}[scale]
    if mask is not None and use_mask:
        s = s.masked_fill(~mask[:, None, None, :], float("-inf"))
    return torch.softmax(s, dim=dim) @ v


BUGS = {
    "no scaling": lambda q, k, v, m=None: _attn(q, k, v, m, scale="none"),
    "divides by d": lambda q, k, v, m=None: _attn(q, k, v, m, scale="d"),
    "softmax over the queries": lambda q, k, v, m=None: _attn(q, k, v, m, dim=-2),
    "ignores the mask": lambda q, k, v, m=None: _attn(q, k, v, m, use_mask=False),
}

PROPS("works with fewer keys than queries",
      "k and v may have a different length from q (cross-attention)",
      close("cross"))

EXERCISE = exercise(
    globals(), points=2,
    summary="scaled dot-product attention",
    proxies=lambda: (F.scaled_dot_product_attention,))
