"""Exercise `group_norm` (notebook 06): GroupNorm without the affine part."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from course_lib.checking import Case, Props, close, exercise
from course_lib.exercises.common import gen


# <solution cell>
def group_norm(x: torch.Tensor, groups: int, eps: float = 1e-5) -> torch.Tensor:
    """Per sample and group of consecutive channels: (x - mean) / sqrt(var + eps)."""
    ### BEGIN SOLUTION
    B = x.shape[0]
    g = x.reshape(B, groups, -1)                         # (B, G, C/G * H * W)
    mean = g.mean(-1, keepdim=True)
    var = g.var(-1, unbiased=False, keepdim=True)
    return ((g - mean) / torch.sqrt(var + eps)).reshape(x.shape)
    ### END SOLUTION
# </solution cell>


def cases() -> dict[str, Case]:
    g = gen(60)
    x = torch.randn(3, 8, 5, 5, generator=g) * 3 + 1
    tiny = torch.randn(2, 4, 3, 3, generator=g) * 3e-3  # variance ~1e-5: eps matters here
    return {"g4": Case((x, 4)), "g1": Case((x, 1)), "g8": Case((x, 8)),
            "2d": Case((torch.randn(2, 6, 7, generator=g), 3)), "tiny": Case((tiny, 2))}


PROPS = Props()


@PROPS("equals torch.nn.functional.group_norm",
       "divide by sqrt(var + eps), with eps inside the square root")
def _gn_torch(outs, refs):
    c = cases()
    x, tiny = c["g4"].args[0], c["tiny"].args[0]
    diff = max((outs["g4"].value - F.group_norm(x, 4)).abs().max().item(),
               (outs["tiny"].value - F.group_norm(tiny, 2)).abs().max().item())
    return diff < 1e-4, (f"max |yours - F.group_norm| = {diff:.1e} (one case has variance "
                         "1e-5, where eps decides)")


@PROPS("each group has mean 0 and variance 1",
       "reshape to (B, groups, -1) and normalise over the last axis; use the biased "
       "variance (unbiased=False), as GroupNorm does")
def _gn_stats(outs, refs):
    y = outs["g4"].value.reshape(3, 4, -1)
    m, v = y.mean(-1).abs().max().item(), (y.var(-1, unbiased=False) - 1).abs().max().item()
    return m < 1e-4 and v < 1e-3, f"per group: max |mean| = {m:.1e}, max |var - 1| = {v:.1e}"


def _gn(x, groups, eps=1e-5, axis="group", unbiased=False, eps_outside=False):
    B = x.shape[0]
    g = x.reshape(B, groups, -1) if axis == "group" else x.reshape(B, x.shape[1], -1)
    if axis == "all":
        g = x.reshape(B, 1, -1)
    var = g.var(-1, unbiased=unbiased, keepdim=True)
    den = var.sqrt() + eps if eps_outside else (var + eps).sqrt()
    return ((g - g.mean(-1, keepdim=True)) / den).reshape(x.shape)


BUGS = {
    "layer norm (all channels)": lambda x, g, eps=1e-5: _gn(x, g, eps, axis="all"),
    "instance norm (per channel)": lambda x, g, eps=1e-5: _gn(x, g, eps, axis="channel"),
    "unbiased variance": lambda x, g, eps=1e-5: _gn(x, g, eps, unbiased=True),
    "eps outside the square root": lambda x, g, eps=1e-5: _gn(x, g, eps, eps_outside=True),
}

PROPS("works for 1 and 8 groups and for (B, C, L) input",
      "groups of consecutive channels: x.reshape(B, groups, -1), then back to x.shape",
      close("g1", "g8", "2d"))

EXERCISE = exercise(globals(), points=2,
                    summary="GroupNorm without the affine part", proxies=lambda: (F.group_norm,))
