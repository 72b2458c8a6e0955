"""Exercise `group_norm` (notebook 06): GroupNorm without the affine part."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from course_lib.checking import Case, Props, close, exercise
from course_lib.exercises.common import gen, pick


# <solution cell>
def group_norm(x: torch.Tensor, groups: int, eps: float = 1e-5) -> torch.Tensor:
    """GroupNorm of section 2 without its learned scale and shift. x: (B, C, ...) with C a
    multiple of groups, each sample's channels split into `groups` groups of consecutive
    channels. Returns x's shape."""
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
    h = gen(160)
    wide = torch.randn(2, 6, 4, 4, generator=h) * 0.1   # variance 1e-2: a large eps matters
    far = pick(161, 1e3, -1e3, 2e3, -2e3) + torch.randn(2, 4, 6, 6, generator=h)
    one = torch.randn(1, 6, 2, 3, 5, generator=h, dtype=torch.float64).requires_grad_()
    return {"g4": Case((x, pick(60, 4, 2))), "g1": Case((x, 1)), "g8": Case((x, 8)),
            "2d": Case((torch.randn(2, 6, 7, generator=g), pick(62, 3, 2, 6))),
            "tiny": Case((tiny, 2)),
            "eps": Case((wide, pick(162, 3, 2, 6), pick(163, 1e-2, 3e-2, 1e-1, 3e-3))),
            "large_mean": Case((far, pick(164, 2, 4, 1))),
            "one": Case((one, pick(165, 6, 3, 2, 1)))}


PROPS = Props()


@PROPS
def _gn_torch(outs, refs):
    """equals torch.nn.functional.group_norm, for the default eps and for a given one

    epsilon is added to the group's variance, under the square root, and it is the eps you are
    given, not the default; where the variance is tiny, epsilon decides the result

    code: divide by torch.sqrt of (variance plus eps), eps inside the root; the eps argument,
    not a 1e-5 written in"""
    c = cases()
    diff = 0.0
    for name in ("g4", "tiny", "eps"):
        x, groups, *eps = c[name].args
        want = F.group_norm(x, groups, eps=eps[0] if eps else 1e-5)
        diff = max(diff, (outs[name].value - want).abs().max().item())
    return diff < 1e-4, (f"max |yours - F.group_norm| = {diff:.1e} (one case has variance "
                         "1e-5, where the default eps decides, another a larger eps)")


@PROPS
def _gn_stats(outs, refs):
    """each group has mean 0 and variance 1

    each group (consecutive channels of one sample, all their positions) is standardised by its
    own mean and spread; the spread is the population variance, the mean squared deviation (over
    the count, not the count minus one), as GroupNorm uses

    code: reshape to (B, groups, -1), then .mean(-1, keepdim=True) and .var(-1, unbiased=False,
    keepdim=True): torch's .var is unbiased by default"""
    x, groups = cases()["g4"].args
    y = outs["g4"].value.reshape(len(x), groups, -1)
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


def _one_pass(x, groups, eps=1e-5):
    g = x.reshape(x.shape[0], groups, -1)
    mean = g.mean(-1, keepdim=True)
    var = (g * g).mean(-1, keepdim=True) - mean**2
    return ((g - mean) / (var + eps).sqrt()).reshape(x.shape)


def _in_place(x, groups, eps=1e-5):
    g = x.reshape(x.shape[0], groups, -1)   # a view of x
    g -= g.mean(-1, keepdim=True)
    g /= (g.var(-1, unbiased=False, keepdim=True) + eps).sqrt()
    return g.reshape(x.shape)


def _four_d(x, groups, eps=1e-5):
    B, C, H, W = x.shape
    g = x.reshape(B, groups, C // groups, H, W)
    mean = g.mean((2, 3, 4), keepdim=True)
    var = g.var((2, 3, 4), unbiased=False, keepdim=True)
    return ((g - mean) / (var + eps).sqrt()).reshape(x.shape)


@torch.no_grad()
def _no_grad(x, groups, eps=1e-5):
    return _gn(x, groups, eps)


def _unflatten(x, groups, eps=1e-5):
    g = x.unflatten(1, (groups, -1))                 # (B, G, C/G, *spatial)
    dims = tuple(range(2, g.dim()))
    var, mean = torch.var_mean(g, dims, correction=0, keepdim=True)
    return ((g - mean) * torch.rsqrt(var + eps)).flatten(1, 2)


BUGS = {
    "layer norm (all channels)": lambda x, g, eps=1e-5: _gn(x, g, eps, axis="all"),
    "instance norm (per channel)": lambda x, g, eps=1e-5: _gn(x, g, eps, axis="channel"),
    "unbiased variance": lambda x, g, eps=1e-5: _gn(x, g, eps, unbiased=True),
    "eps outside the square root": lambda x, g, eps=1e-5: _gn(x, g, eps, eps_outside=True),
    "variance as E[x^2] - E[x]^2 (cancels at large means)": _one_pass,
    "[held] ignores the eps it is given (always 1e-5)": lambda x, g, eps=1e-5: _gn(x, g),
    "[held] assumes (B, C, H, W) input": _four_d,
    "[dtype] computes in float32, casts back": lambda x, g, eps=1e-5: _gn(
        x.float(), g, eps).to(x.dtype),
    "[alias] normalises a view of x in place": _in_place,
    "[grad] computes under torch.no_grad()": _no_grad,
}
ALTERNATIVES = {"groups unflattened, torch.var_mean and rsqrt": _unflatten}

PROPS("""works for 1 group, one group per channel, (B, C, L) and (1, C, D, H, W) input

      a group is a run of consecutive channels of one sample with all their positions, whatever
      the number of spatial axes; the result has the input's shape

      code: x.reshape(B, groups, -1) fits every rank (a 5-d reshape fits 4-d input only);
      reshape the result back to x.shape""",
      close("g1", "g8", "2d", "one"))

PROPS("""stays accurate for large means (around 1000)

      with values around 1000, the mean square minus the squared mean loses the variance to
      rounding: measure the spread around the group's mean instead

      code: subtract the mean before squaring (or use .var(unbiased=False)), rather than (g *
      g).mean() minus mean ** 2""",
      close("large_mean", atol=2e-3))

EXERCISE = exercise(globals(), points=2,
                    summary="GroupNorm without the affine part",
                    proxies=("torch.nn.functional.group_norm",),
                    reread="2. Normalisation: GroupNorm")
