"""Checks for notebook 06 (a U-Net for images): GroupNorm, attention, the residual block and
attention over pixels, compared with PyTorch's own operators where they exist."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from course_lib import unet
from course_lib.checking import Case, Exercise, Prop, close

NB = "06_unet"


def _gen(seed):
    return torch.Generator().manual_seed(seed)


def _fixed(build, seed):
    """A module with fixed random weights, built without touching the learner's RNG."""
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        module = build()
    for p in module.parameters():
        p.requires_grad_(False)
    return module


# ------------------------------------------------------------------- group_norm

def group_norm(x: torch.Tensor, groups: int, eps: float = 1e-5) -> torch.Tensor:
    """Normalise each sample's channel groups to mean 0, variance 1 (no affine part)."""
    B, C = x.shape[:2]
    g = x.reshape(B, groups, -1)                                   # (B, G, C/G * H * W)
    mean = g.mean(-1, keepdim=True)
    var = g.var(-1, unbiased=False, keepdim=True)
    return ((g - mean) / torch.sqrt(var + eps)).reshape(x.shape)


def _gn_cases():
    g = _gen(60)
    x = torch.randn(3, 8, 5, 5, generator=g) * 3 + 1
    tiny = torch.randn(2, 4, 3, 3, generator=g) * 3e-3  # variance ~1e-5: eps matters here
    return {"g4": Case((x, 4)), "g1": Case((x, 1)), "g8": Case((x, 8)),
            "2d": Case((torch.randn(2, 6, 7, generator=g), 3)), "tiny": Case((tiny, 2))}


def _gn_torch(outs, refs):
    cases = _gn_cases()
    x, tiny = cases["g4"].args[0], cases["tiny"].args[0]
    diff = max((outs["g4"].value - F.group_norm(x, 4)).abs().max().item(),
               (outs["tiny"].value - F.group_norm(tiny, 2)).abs().max().item())
    return diff < 1e-4, (f"max |yours - F.group_norm| = {diff:.1e} (one case has variance "
                         "1e-5, where eps decides)")


def _gn_stats(outs, refs):
    y = outs["g4"].value.reshape(3, 4, -1)
    m, v = y.mean(-1).abs().max().item(), (y.var(-1, unbiased=False) - 1).abs().max().item()
    return m < 1e-4 and v < 1e-3, f"per group: max |mean| = {m:.1e}, max |var - 1| = {v:.1e}"


# ------------------------------------------------------------------- attention

def _attn_cases():
    g = _gen(61)
    q, k, v = (torch.randn(2, 3, 5, 8, generator=g) for _ in range(3))
    mask = torch.tensor([[True] * 5, [True, True, False, False, True]])
    same_k = torch.ones(2, 3, 5, 8)
    return {"plain": Case((q, k, v)), "masked": Case((q, k, v, mask)),
            "same_keys": Case((q, same_k, v)), "cross": Case((q, k[:, :, :4], v[:, :, :4]))}


def _attn_torch(outs, refs):
    c = _attn_cases()
    q, k, v = c["plain"].args
    diff = (outs["plain"].value - F.scaled_dot_product_attention(q, k, v)).abs().max().item()
    q, k, v, mask = c["masked"].args
    want = F.scaled_dot_product_attention(q, k, v, attn_mask=mask[:, None, None, :])
    diff = max(diff, (outs["masked"].value - want).abs().max().item())
    return diff < 1e-5, f"max |yours - F.scaled_dot_product_attention| = {diff:.1e}"


def _attn_same_keys(outs, refs):
    v = _attn_cases()["same_keys"].args[2]
    want = v.mean(-2, keepdim=True).expand_as(v)
    diff = (outs["same_keys"].value - want).abs().max().item()
    return diff < 1e-5, f"identical keys must average the values: max diff {diff:.1e}"


# ------------------------------------------------------------------- resblock_forward

def _res_cases():
    g = _gen(62)
    wide = _fixed(lambda: unet.ResBlock(8, 16, 32), 63)
    same = _fixed(lambda: unet.ResBlock(16, 16, 32), 64)
    zeroed = _fixed(lambda: unet.ResBlock(8, 16, 32), 63)
    zeroed.conv2.weight.zero_()
    zeroed.conv2.bias.zero_()
    x8, x16 = torch.randn(2, 8, 6, 6, generator=g), torch.randn(2, 16, 6, 6, generator=g)
    emb, emb2 = torch.randn(2, 32, generator=g), torch.randn(2, 32, generator=g)
    return {"wide": Case((wide, x8, emb)), "wide_emb2": Case((wide, x8, emb2)),
            "same": Case((same, x16, emb)), "zeroed": Case((zeroed, x8, emb))}


def _res_zeroed(outs, refs):
    block, x, _ = _res_cases()["zeroed"].args
    diff = (outs["zeroed"].value - block.skip(x)).abs().max().item()
    return diff < 1e-6, f"with conv2 = 0 the block must return skip(x): max diff {diff:.1e}"


def _res_uses_emb(outs, refs):
    changed = not torch.allclose(outs["wide"].value, outs["wide_emb2"].value)
    return changed, ("a different embedding changes the output" if changed
                     else "the output ignores the embedding")


# ------------------------------------------------------------------- attention_2d

def _a2d_cases():
    g = _gen(65)
    self_attn = _fixed(lambda: unet.Attention2d(16, heads=4), 66)
    cross = _fixed(lambda: unet.Attention2d(16, heads=2, context_dim=12), 67)
    silent = _fixed(lambda: unet.Attention2d(16, heads=4), 66)
    silent.proj.weight.zero_()
    silent.proj.bias.zero_()
    x = torch.randn(2, 16, 4, 3, generator=g)
    ctx = torch.randn(2, 5, 12, generator=g)
    mask = torch.tensor([[True] * 5, [True] * 3 + [False] * 2])
    return {"self": Case((self_attn, x)), "cross": Case((cross, x, ctx, mask)),
            "silent": Case((silent, x))}


def _a2d_residual(outs, refs):
    x = _a2d_cases()["silent"].args[1]
    diff = (outs["silent"].value - x).abs().max().item()
    return diff < 1e-6, f"with proj = 0 the block must return x: max diff {diff:.1e}"


EXERCISES = [
    Exercise(
        id="group_norm", notebook=NB, points=2, reference=group_norm, cases=_gn_cases,
        summary="GroupNorm without the affine part",
        props=[
            Prop("each group has mean 0 and variance 1", _gn_stats,
                 "reshape to (B, groups, -1) and normalise over the last axis; use the biased "
                 "variance (unbiased=False), as GroupNorm does"),
            Prop("equals torch.nn.functional.group_norm", _gn_torch,
                 "divide by sqrt(var + eps), with eps inside the square root"),
            Prop("works for 1 and 8 groups and for (B, C, L) input", close("g1", "g8", "2d"),
                 "groups of consecutive channels: x.reshape(B, groups, -1), then back to x.shape"),
        ],
    ),
    Exercise(
        id="attention", notebook=NB, points=2, reference=unet.attention, cases=_attn_cases,
        summary="scaled dot-product attention",
        props=[
            Prop("identical keys give the average of the values", _attn_same_keys,
                 "softmax over the keys (the last axis of q @ k^T), then weights @ v"),
            Prop("equals F.scaled_dot_product_attention (with and without a mask)", _attn_torch,
                 "scale the scores by 1 / sqrt(d), d = q.shape[-1]; a masked key gets score "
                 "-inf before the softmax: mask[:, None, None, :]"),
            Prop("works with fewer keys than queries", close("cross"),
                 "k and v may have a different length from q (cross-attention)"),
        ],
    ),
    Exercise(
        id="resblock_forward", notebook=NB, points=3, reference=unet.resblock_forward,
        cases=_res_cases, summary="the residual block's forward pass",
        props=[
            Prop("is skip(x) when conv2 is zero", _res_zeroed,
                 "return block.skip(x) + h: the residual path is added to the skip"),
            Prop("depends on the embedding", _res_uses_emb,
                 "add block.emb(emb)[:, :, None, None] to h after conv1"),
            Prop("matches the reference, with and without a 1x1 skip",
                 close("wide", "same", atol=1e-5),
                 "order: norm1 -> SiLU -> conv1, + emb, norm2 -> SiLU -> conv2; F.silu"),
        ],
    ),
    Exercise(
        id="attention_2d", notebook=NB, points=3, reference=unet.attention_2d,
        cases=_a2d_cases, summary="attention over the pixels of a feature map",
        props=[
            Prop("is x when the output projection is zero (residual)", _a2d_residual,
                 "return x + the attention output, reshaped back to (B, C, H, W)"),
            Prop("matches the reference for self-attention", close("self", atol=1e-5),
                 "tokens = norm(x).reshape(B, C, H*W).transpose(1, 2): one token per pixel; "
                 "split C into heads: (B, T, C) -> (B, heads, T, C/heads)"),
            Prop("matches the reference for cross-attention with a mask",
                 close("cross", atol=1e-5),
                 "queries come from the pixels, keys and values from the context"),
        ],
    ),
]
