"""Shared by notebook 04's exercise files: a finite set K and query points x; and the kit of the
sampling loop `samples`: its noise levels and denoisers, the step replay its properties run,
and the loop with one rule changed that builds its planted bugs."""
from __future__ import annotations

import math

import torch

from course_lib import diffusion
from course_lib.checking import Case
from course_lib.exercises.common import gen, pick
from course_lib.exercises.nb04.ge_direction import ge_direction


def probe_K() -> torch.Tensor:
    """The data set K: 7 points in 2-d. (7, 2)"""
    return torch.randn(7, 2, generator=gen(30))


def probe_x(n: int = 9, d: int = 2, seed: int = 31, scale: float = 1.5,
            dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """n query points in d dimensions. (n, d)"""
    return torch.randn(n, d, generator=gen(seed), dtype=dtype) * scale


def euclid_not_l1() -> tuple[torch.Tensor, torch.Tensor]:
    """One query point x (1, 2) and a set K (5, 2) whose nearest point to x in Euclidean
    distance (at 1.06, on a diagonal) is not the nearest in L1 distance (1.1, on an axis),
    shifted, scaled, mirrored and shuffled for the draw."""
    g = gen(35)
    near = torch.tensor([[0.75, 0.75], [1.1, 0.0]])
    far = 3 + torch.rand(3, 2, generator=g) * 2                       # farther than 3
    K = torch.cat([near, far]) * (1 - 2 * torch.randint(2, (2,), generator=g))  # mirror axes
    if bool(torch.randint(2, (), generator=g)):
        K = K.flip(1)                                                 # swap the axes
    scale, centre = 0.5 + torch.rand((), generator=g), torch.randn(1, 2, generator=g)
    K = centre + scale * K[torch.randperm(5, generator=g)]
    return centre.clone(), K


def set_cases() -> dict[str, Case]:
    """The cases of dist_K and proj_K: points, points of K itself, 3-d, a batch of 1, float64,
    a Euclidean-vs-L1 trap and points far from the origin (large coordinates)."""
    K = probe_K()
    shift = pick(36, 1e4, 3e3, 2e4)
    x_far, K_far = probe_x(6, 2, 38, 1.0), probe_x(5, 2, 39, 1.0)
    return {"points": Case((probe_x(), K)), "on_K": Case((K[[3, 0, 6]].clone(), K)),
            "3d": Case((probe_x(5, 3, 32), probe_x(4, 3, 33, scale=1.0))),
            "batch1": Case((probe_x(1, pick(37, 4, 3, 5), 34), probe_x(6, pick(37, 4, 3, 5),
                                                                        40, scale=1.0))),
            "f64": Case((probe_x(7, 3, 41, dtype=torch.float64),
                         probe_x(8, 3, 42, 1.0, dtype=torch.float64))),
            "euclid": Case(euclid_not_l1()),
            "far": Case((x_far + shift, K_far + shift))}


def sq_dists(x: torch.Tensor, K: torch.Tensor) -> torch.Tensor:
    """||x_b - k_n||^2 for every pair: used by the planted answers. (B, N)"""
    return ((x[:, None, :] - K[None]) ** 2).sum(-1)


# The kit of `samples` (nb04/samples.py).

def levels(n: int, steps: int, *others: int) -> torch.Tensor:
    """A log-linear list of levels over a range picked for probe n, then 0."""
    lo, hi = pick(n, 0.01, 0.005, 0.02), pick(n + 1, 10.0, 5.0, 20.0)
    return diffusion.Schedule(lo, hi).levels(pick(n + 2, steps, *others))


def shifted(K: torch.Tensor):
    """The exact denoiser of the data set K + cond: each sample's own copy of K, moved by its
    row of cond (B, 2). A denoiser that uses cond; cond = None means K itself."""
    from course_lib.projection import ideal_eps  # here: ideal_eps's own file imports this one

    def denoiser(x, sigma, cond=None):
        shift = 0 if cond is None else cond.to(x.dtype)
        return ideal_eps(x - shift, sigma, K.to(x.dtype))
    return denoiser


def two_arguments(denoiser):
    """denoiser as a denoiser(x, sigma) with no cond parameter, like guidance.guided's."""
    return lambda x, sigma: denoiser(x, sigma)


def cond_shifts(n: int, batch: int) -> torch.Tensor:
    """batch shifts of length 3 in drawn directions. (batch, 2)"""
    angle = torch.rand(batch, generator=gen(n)) * 2 * math.pi
    return 3 * torch.stack([angle.cos(), angle.sin()], dim=1)


def replayed(cases, name: str, gam: float, what: str):
    """A Prop test: each state of case `name` of cases() (mu = 0) against one step from the
    answer's own previous state: x - (sigma - sigma_next) (gam eps_hat + (1 - gam) eps_prev),
    eps_hat alone first."""
    def test(outs, refs):
        den, sigmas, x = cases()[name].args[:3]
        xs, eps_prev = outs[name].value, None
        for i, (sigma, sigma_next) in enumerate(zip(sigmas[:-1], sigmas[1:])):
            if i >= len(xs):
                break
            eps_hat = den(x, sigma)
            eps_bar = eps_hat if eps_prev is None else gam * eps_hat + (1 - gam) * eps_prev
            want = x - (sigma - sigma_next) * eps_bar
            err = (xs[i] - want).abs().max().item()
            if not err <= 1e-5 + 1e-4 * want.abs().max().item():
                return False, (f"step {i + 1} (sigma {sigma:.3g} -> {sigma_next:.3g}) is "
                               f"{err:.2e} away from {what} from your previous state")
            x, eps_prev = xs[i], eps_hat
        return True, f"every step is {what} from the previous state"
    return test


def sigma_p(sigma, sigma_next, mu):
    return (sigma_next / sigma**mu) ** (1 / (1 - mu))


def noise_std(sigma, sigma_next, sigma_p):
    return (sigma_next**2 - sigma_p**2).clamp(min=0).sqrt()


def call(denoiser, x, sigma, cond):
    return denoiser(x, sigma, cond) if cond is not None else denoiser(x, sigma)


def walk(prev=lambda eps_hat, eps_bar: eps_hat, first=lambda x: None, mix=True, to=sigma_p,
         std=noise_std, move_to=lambda sigma_next, sigma_p: sigma_p, call=call, pairs=None,
         rng=True, dtype=True, fixed_gam=None):
    """The loop of `samples` with one rule changed: the planted bugs."""
    def loop(denoiser, sigmas, x, gam=1.0, mu=0.0, cond=None, generator=None):
        gam = gam if fixed_gam is None else fixed_gam
        eps_prev = first(x)
        steps = pairs(sigmas) if pairs else zip(sigmas[:-1], sigmas[1:])
        for sigma, sigma_next in steps:
            eps_hat = call(denoiser, x, sigma, cond)
            eps_bar = ge_direction(eps_hat, eps_prev, gam) if mix else eps_hat
            s_p = to(sigma, sigma_next, mu)
            x = x - (sigma - move_to(sigma_next, s_p)) * eps_bar
            s = std(sigma, sigma_next, s_p)
            if s > 0:
                kw = {"dtype": x.dtype} if dtype else {}
                x = x + s * torch.randn(x.shape, generator=generator if rng else None, **kw)
            eps_prev = prev(eps_hat, eps_bar)
            yield x
    return loop
