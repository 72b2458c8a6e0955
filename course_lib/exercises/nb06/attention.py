"""Exercise `attention` (notebook 06): scaled dot-product attention, with a key mask."""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from course_lib.checking import Case, Props, close, equals, exercise
from course_lib.exercises.common import gen, pick


# <solution cell>
def attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask=None) -> torch.Tensor:
    """Attention of section 4: queries q (..., T_q, d), keys k (..., T_k, d), values
    v (..., T_k, d_v) -> (..., T_q, d_v). mask: None, or (B, T_k) bool with q, k, v of shape
    (B, heads, T, d); keys where it is False get no weight."""
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
    h = gen(161)
    d = pick(161, 6, 12, 10, 3)
    # (B, T, d) without heads: odd lengths, 7 queries and 9 keys, values of another width
    q3 = torch.randn(3, 7, d, generator=h)
    k3, v3 = torch.randn(3, 9, d, generator=h), torch.randn(3, 9, 5, generator=h)
    # large scores (up to a few hundred): exp() of them overflows float32
    big = pick(162, 10.0, 8.0, 12.0)
    ql, kl = big * torch.randn(1, 2, 7, d, generator=h), big * torch.randn(1, 2, 9, d, generator=h)
    vl = torch.randn(1, 2, 9, d, generator=h)
    # a batch of one, float64, a mask over 4 keys with its last key kept
    q1 = torch.randn(1, 2, 5, 4, generator=h, dtype=torch.float64).requires_grad_()
    k1, v1 = (torch.randn(1, 2, 4, 4, generator=h, dtype=torch.float64) for _ in range(2))
    m1 = torch.cat([torch.rand(1, 3, generator=h) < 0.5, torch.ones(1, 1, dtype=torch.bool)], 1)
    return {"plain": Case((q, k, v)), "masked": Case((q, k, v, mask)),
            "same_keys": Case((q, same_k, v)), "cross": Case((q, k[:, :, :4], v[:, :, :4])),
            "no_heads": Case((q3, k3, v3)), "large": Case((ql, kl, vl)),
            "one": Case((q1, k1, v1, m1))}


PROPS = Props()


@PROPS
def _attn_torch(outs, refs):
    """equals F.scaled_dot_product_attention (with and without a mask)

    the scores are the query-key dot products divided by the square root of d, the length of one
    query vector; a masked key's score is minus infinity before the softmax, so its weight is 0
    for every query

    code: d is q.shape[-1] and the scale is its square root (not d); masked_fill the scores with
    float('-inf') where mask[:, None, None, :] is False"""
    c = cases()
    q, k, v = c["plain"].args
    diff = (outs["plain"].value - F.scaled_dot_product_attention(q, k, v)).abs().max().item()
    q, k, v, mask = c["masked"].args
    want = F.scaled_dot_product_attention(q, k, v, attn_mask=mask[:, None, None, :])
    diff = max(diff, (outs["masked"].value - want).abs().max().item())
    return diff < 1e-5, f"max |yours - F.scaled_dot_product_attention| = {diff:.1e}"


PROPS("""identical keys give the average of the values

      each query's weights over the keys sum to 1 (a softmax across the keys); identical keys get
      equal weights, so the output is the plain mean of the values

      code: torch.softmax(scores, dim=-1): the scores are (..., T_q, T_k), keys last; then
      multiply the weights by v with @""",
      equals(cases, "same_keys", lambda q, k, v: v.mean(-2, keepdim=True).expand_as(v),
             "the mean of the values"))


def _attn(q, k, v, mask=None, scale="sqrt", dim=-1, use_mask=True):
    d = q.shape[-1]
    s = q @ k.transpose(-2, -1) / {"sqrt": d ** 0.5, "d": d, "none": 1, "8": 8 ** 0.5}[scale]
    if mask is not None and use_mask:
        s = s.masked_fill(~mask[:, None, None, :], float("-inf"))
    return torch.softmax(s, dim=dim) @ v


def _four_d(q, k, v, mask=None):
    s = q @ k.transpose(2, 3) / math.sqrt(q.shape[-1])
    if mask is not None:
        s = s.masked_fill(~mask[:, None, None, :], float("-inf"))
    return torch.softmax(s, dim=-1) @ v


def _by_hand(q, k, v, mask=None, stable=True, fill=float("-inf")):
    s = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    if mask is not None:
        s = s.masked_fill(~mask[:, None, None, :], fill)
    if stable:
        s = s - s.amax(-1, keepdim=True)
    w = s.exp()
    return w / w.sum(-1, keepdim=True) @ v


def _float32_softmax(q, k, v, mask=None):
    s = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    if mask is not None:
        s = s.masked_fill(~mask[:, None, None, :], float("-inf"))
    return torch.softmax(s.float(), dim=-1).to(v.dtype) @ v


@torch.no_grad()
def _no_grad(q, k, v, mask=None):
    return _attn(q, k, v, mask)


BUGS = {
    "no scaling": lambda q, k, v, m=None: _attn(q, k, v, m, scale="none"),
    "divides by d": lambda q, k, v, m=None: _attn(q, k, v, m, scale="d"),
    "softmax over the queries": lambda q, k, v, m=None: _attn(q, k, v, m, dim=-2),
    "ignores the mask": lambda q, k, v, m=None: _attn(q, k, v, m, use_mask=False),
    "softmax by hand without subtracting the max (overflows on large scores)":
        lambda q, k, v, m=None: _by_hand(q, k, v, m, stable=False),
    "[held] scale sqrt(8) hard-coded": lambda q, k, v, m=None: _attn(q, k, v, m, scale="8"),
    "[held] transposes axes 2 and 3 (4-d inputs only)": _four_d,
    "[dtype] softmax in float32, cast back": _float32_softmax,
    "[grad] computes under torch.no_grad()": _no_grad,
}
ALTERNATIVES = {
    "softmax by hand, max subtracted": _by_hand,
    "masked scores -1e9 instead of -inf": lambda q, k, v, m=None: _by_hand(q, k, v, m, fill=-1e9),
    "queries scaled first, keys as k.mT": lambda q, k, v, m=None: torch.softmax(
        (q / math.sqrt(q.shape[-1])) @ k.mT + (0 if m is None else torch.where(
            m[:, None, None, :], 0.0, float("-inf"))), dim=-1) @ v,
}

PROPS("""works with fewer keys than queries

      k and v may have another length than q (cross-attention): the weights form a table of T_q
      rows by T_k columns, and the output has one row per query

      code: the scores are (..., T_q, T_k); nothing may assume T_q == T_k""",
      close("cross"))

PROPS("""works without a heads axis, for any d, odd lengths, values of another width

      attention acts on the last two axes, tokens and features, whatever leading axes come
      before them; d is the query size, and the values may be wider or narrower

      code: transpose k with .transpose(-2, -1) or .mT, not axes 2 and 3; read d from
      q.shape[-1], not a constant""",
      close("no_heads"))

PROPS("""stays finite and right for large scores (a few hundred)

      the exponential of a score above about 88 overflows float32; a softmax does not change
      when one number is subtracted from a whole row, so subtract the row's largest

      code: torch.softmax(scores, dim=-1) does it for you; by hand, subtract scores.amax(-1,
      keepdim=True) before .exp()""",
      close("large", atol=3e-4))

PROPS("""works for a batch of one with a mask, in float64

      the mask has one row per batch element and one entry per key, shared by every head and
      every query; compute in the inputs' dtype

      code: broadcast the (B, T_k) mask as mask[:, None, None, :]; no .float() casts""",
      close("one", atol=1e-10, rtol=1e-8))

EXERCISE = exercise(
    globals(), points=2,
    summary="scaled dot-product attention",
    proxies=("torch.nn.functional.scaled_dot_product_attention",),
    reread="4. Attention")
