"""Checks for notebook 04 (projection view): dist_K, proj_K, the ideal denoiser, a gradient
step on 1/2 dist_K^2, and the gradient-estimation direction."""
from __future__ import annotations

import torch

from course_lib import projection, samplers
from course_lib.checking import Case, Exercise, Prop, close

NB = "04_projection"


def _K():
    g = torch.Generator().manual_seed(30)
    return torch.randn(7, 2, generator=g)


def _x(n=9, d=2, seed=31, scale=1.5):
    return torch.randn(n, d, generator=torch.Generator().manual_seed(seed)) * scale


# ------------------------------------------------------------------- dist_K / proj_K

def _set_cases():
    K = _K()
    return {"points": Case((_x(), K)), "on_K": Case((K[[3, 0, 6]].clone(), K)),
            "3d": Case((_x(5, 3, 32), _x(4, 3, 33, scale=1.0)))}


def _dist_on_K(outs, refs):
    got = outs["on_K"].value.abs().max().item()
    return got < 1e-6, f"max dist_K of points of K: {got:.1e}, expected 0"


def _proj_on_K(outs, refs):
    K = _K()
    ok = torch.equal(outs["on_K"].value, K[[3, 0, 6]])
    return ok, "points of K project to themselves" if ok else "a point of K moved"


def _proj_in_K(outs, refs):
    K, got = _K(), outs["points"].value
    member = (torch.cdist(got, K).min(dim=1).values < 1e-6).all().item()
    return member, "every projection is a point of K" if member else "a result is not in K"


# ------------------------------------------------------------------- ideal_eps

def _ideal_cases():
    K, x = _K(), _x()
    sig = torch.linspace(0.2, 3.0, 9)
    return {"s1": Case((x, torch.tensor(1.0), K)), "s_batch": Case((x, sig, K)),
            "tiny": Case((x, torch.tensor(1e-3), K)), "huge": Case((x, torch.tensor(1e3), K))}


def _ideal_tiny(outs, refs):
    K, x = _K(), _x()
    x0_hat = x - 1e-3 * outs["tiny"].value
    diff = (x0_hat - projection.proj_K(x, K)).abs().max().item()
    return diff < 1e-3, f"at sigma = 0.001, max |x - sigma*eps_hat - proj_K(x)| = {diff:.1e}"


def _ideal_huge(outs, refs):
    K, x = _K(), _x()
    x0_hat = x - 1e3 * outs["huge"].value
    diff = (x0_hat - K.mean(0)).abs().max().item()
    return diff < 1e-2, f"at sigma = 1000, max |x0_hat - mean(K)| = {diff:.1e}"


# ------------------------------------------------------------------- gd_step

def _gd_cases():
    K, x = _K(), _x()
    return {"half": Case((x, K, 0.5)), "full": Case((x, K, 1.0)), "zero": Case((x, K, 0.0))}


def _gd_full(outs, refs):
    K, x = _K(), _x()
    diff = (outs["full"].value - projection.proj_K(x, K)).abs().max().item()
    return diff < 1e-6, f"step 1 lands on proj_K(x): max diff {diff:.1e}"


# ------------------------------------------------------------------- ge_direction

def _ge_cases():
    g = torch.Generator().manual_seed(34)
    e, p = torch.randn(5, 2, generator=g), torch.randn(5, 2, generator=g)
    return {"g2": Case((e, p, 2.0)), "g1": Case((e, p, 1.0)), "first": Case((e, None, 2.0)),
            "g_half": Case((e, p, 0.5))}


def _ge_first(outs, refs):
    e = _ge_cases()["first"].args[0]
    ok = torch.equal(outs["first"].value, e)
    return ok, "with no previous eps_hat, returns eps_hat" if ok else "first step changed eps_hat"


def _ge_extrapolates(outs, refs):
    e, p = _ge_cases()["g2"].args[:2]
    diff = (outs["g2"].value - (2 * e - p)).abs().max().item()
    return diff < 1e-6, f"gam = 2: max |yours - (2 eps_hat - eps_prev)| = {diff:.1e}"


EXERCISES = [
    Exercise(
        id="dist_K", notebook=NB, points=1, reference=projection.dist_K, cases=_set_cases,
        summary="distance to a finite set",
        props=[
            Prop("points of K are at distance 0", _dist_on_K,
                 "take the minimum over K of the distances"),
            Prop("matches the reference in 2-d and 3-d", close("points", "3d"),
                 "Euclidean distance (with the square root) to the nearest point: a min over K"),
        ],
    ),
    Exercise(
        id="proj_K", notebook=NB, points=1, reference=projection.proj_K, cases=_set_cases,
        summary="nearest point of a finite set",
        props=[
            Prop("returns points of K", _proj_in_K, "index K with the argmin over K"),
            Prop("points of K project to themselves", _proj_on_K,
                 "argmin of the distance, not argmax"),
            Prop("matches the reference in 2-d and 3-d", close("points", "3d"),
                 "K[dists.argmin(dim=1)] with dists of shape (B, N)"),
        ],
    ),
    Exercise(
        id="ideal_eps", notebook=NB, points=3, reference=projection.ideal_eps,
        cases=_ideal_cases, summary="the ideal denoiser for a finite data set",
        props=[
            Prop("tiny sigma: x - sigma*eps_hat is the projection", _ideal_tiny,
                 "the softmax weights concentrate on the nearest point as sigma -> 0"),
            Prop("huge sigma: x - sigma*eps_hat is the mean of K", _ideal_huge,
                 "normalise the weights over K (dim=1), not over the batch"),
            Prop("matches the reference at sigma = 1 and a batch of sigmas",
                 close("s1", "s_batch", atol=1e-5),
                 "w = softmax(-||x - k||^2 / (2 sigma^2)) over k; x0_hat = w @ K; "
                 "eps = (x - x0_hat) / sigma; with sigma of shape (B,) use sigma[:, None]"),
        ],
    ),
    Exercise(
        id="gd_step", notebook=NB, points=1, reference=projection.gd_step, cases=_gd_cases,
        summary="a gradient step on 1/2 dist_K(x)^2",
        props=[
            Prop("a full step (size 1) lands on the projection", _gd_full,
                 "the gradient of 1/2 dist_K(x)^2 is x - proj_K(x); step against it"),
            Prop("matches the reference for sizes 0.5 and 0", close("half", "zero"),
                 "x - step * (x - proj_K(x))"),
        ],
    ),
    Exercise(
        id="ge_direction", notebook=NB, points=2, reference=samplers.ge_direction,
        cases=_ge_cases, summary="the gradient-estimation direction",
        props=[
            Prop("first step (no eps_prev) returns eps_hat", _ge_first,
                 "if eps_prev is None: return eps_hat"),
            Prop("gam = 2 extrapolates: 2 eps_hat - eps_prev", _ge_extrapolates,
                 "gam multiplies the current eps_hat, 1 - gam the previous one"),
            Prop("matches the reference at gam = 1 and 0.5", close("g1", "g_half"),
                 "gam * eps_hat + (1 - gam) * eps_prev"),
        ],
    ),
]
