"""Exercise `samples` (notebook 04): the course's sampling loop in the sigma view, with the
gradient-estimation direction (gam) and noise injection (mu) of Permenter & Yuan."""
from __future__ import annotations

import math

import torch

from course_lib.checking import Case, Props, close, exercise
from course_lib.exercises.common import as_list, gen, lands_on, pick, same_count, states
from course_lib.exercises.nb04.ge_direction import ge_direction
from course_lib.exercises.nb04.probes import (
    call,
    cond_shifts,
    levels,
    noise_std,
    replayed,
    shifted,
    sigma_p,
    two_arguments,
    walk,
)
from course_lib.exercises.toy_models import gaussian, points


# <solution cell>
def samples(denoiser, sigmas: torch.Tensor, x: torch.Tensor, gam: float = 1.0, mu: float = 0.0,
            cond=None, generator: torch.Generator | None = None):
    """Walk consecutive pairs (sigma, sigma_next) of the decreasing `sigmas`, from x at noise
    level sigmas[0]; yield x after every step (len(sigmas) - 1 states). Each step calls the
    denoiser once, as denoiser(x, sigma, cond), or denoiser(x, sigma) when cond is None; its
    direction is your ge_direction(eps_hat, eps_prev, gam), eps_prev being the previous
    step's eps_hat (None on the first step). A step that adds fresh noise draws it as one
    torch.randn(x.shape, generator=generator, dtype=x.dtype), just before adding it; a step
    that adds none draws nothing. mu must be in [0, 1) (ValueError otherwise)."""
    ### BEGIN SOLUTION
    if not 0 <= mu < 1:
        raise ValueError(f"mu must be in [0, 1), got {mu}")
    eps_prev = None
    for sigma, sigma_next in zip(sigmas[:-1], sigmas[1:]):
        eps_hat = denoiser(x, sigma, cond) if cond is not None else denoiser(x, sigma)
        eps_bar = ge_direction(eps_hat, eps_prev, gam)
        sigma_p = (sigma_next / sigma**mu) ** (1 / (1 - mu))
        noise_std = (sigma_next**2 - sigma_p**2).clamp(min=0).sqrt()
        x = x - (sigma - sigma_p) * eps_bar
        if noise_std > 0:
            x = x + noise_std * torch.randn(x.shape, generator=generator, dtype=x.dtype).to(x)
        eps_prev = eps_hat
        yield x
    ### END SOLUTION
# </solution cell>


def cases() -> dict[str, Case]:
    """Images from the Gaussian's denoiser in float32; samples of finite sets in float64, where
    the ideal denoiser, near the boundary between two points, would blow float32 rounding up."""
    _, den = points(pick(60, 5, 4, 6), 61)
    _, den_k = points(pick(62, 5, 3, 7), 63)
    K_c = points(4, 64)[0]
    g = gen(65)
    img, img1 = torch.randn(2, 3, 4, 4, generator=g), torch.randn(1, 1, 4, 4, generator=g)
    x, x_ddim, x_k, x_c = (torch.randn(b, 2, generator=g, dtype=torch.float64)
                           for b in (5, 6, 32, 8))
    s_img, s_one = levels(66, 10, 8, 12), levels(69, 9, 7, 11)
    s_mix, s_ddim, s_k, s_c = (levels(n, *steps).double() for n, steps in (
        (72, (12, 10, 15)), (75, (8, 6, 10)), (78, (20, 24, 30)), (81, (20, 24))))
    return {
        "images, gam 2, mu 1/2": Case((gaussian(pick(84, 0.5, 0.3, 1.0)), s_img, s_img[0] * img,
                                       2.0, 0.5), {"generator": gen(85)}),
        "one image, denoiser(x, sigma)": Case((two_arguments(gaussian(0.5)), s_one,
                                               s_one[0] * img1, pick(86, 1.7, 1.4, 2.2), 0.5),
                                              {"generator": gen(87)}),
        "gam between 1 and 2, mu 1/2": Case((den, s_mix, s_mix[0] * x,
                                             pick(88, 1.5, 1.3, 1.7), 0.5, None, gen(89))),
        "gam 1, mu 0 (DDIM)": Case((den, s_ddim, s_ddim[0] * x_ddim)),
        "gam 2, mu 0, to K": Case((den_k, s_k, s_k[0] * x_k, 2.0, 0.0, None, gen(90))),
        "cond, mu 1/2": Case((shifted(K_c), s_c, s_c[0] * x_c, 1.0, 0.5,
                              cond_shifts(91, 8).double(), gen(92))),
    }


PROPS = Props()


PROPS("""one state per step: len(sigmas) - 1 of them

      a step goes from each noise level of the list to the next, down to the last one: one state
      per step""",
      same_count("gam 1, mu 0 (DDIM)", "step"))

PROPS("""with gam = 1 and mu = 0 every step is DDIM's, x - (sigma - sigma_next) eps_hat

      with gam = 1 the direction is the current noise prediction alone, and with mu = 0 the step
      goes straight to the next level without fresh noise""",
      replayed(cases, "gam 1, mu 0 (DDIM)", 1.0, "the DDIM step"))

PROPS("""with gam = 2 and mu = 0 every step goes along 2 eps_hat - eps_prev (eps_hat alone on the
      first)

      the previous prediction remembered is the denoiser's own raw prediction, not the mixed
      direction; the first step has no previous one

      code: eps_prev is the previous step's eps_hat, the denoiser's own prediction (not the
      mixed direction), and there is none on the first step; gam comes from the caller""",
      replayed(cases, "gam 2, mu 0, to K", 2.0, "the gradient-estimation step"))

PROPS("""gradient estimation (gam = 2) lands on the data: every sample ends next to a point of K

      every step moves along the mixed direction, and the last one goes all the way to noise
      level zero, where the state is the denoiser's guess of the data""",
      lands_on("gam 2, mu 0, to K", lambda: points(pick(62, 5, 3, 7), 63)[0].double(),
               tol=0.05))


@PROPS
def _cond_used(outs, refs):
    """cond reaches the denoiser: conditional samples land on their own K + cond

    the condition must reach the denoiser at every step; without it the denoiser predicts the
    unconditional data, here K itself"""
    K, c = points(4, 64)[0].double(), cond_shifts(91, 8).double()
    x0 = outs["cond, mu 1/2"].value[-1]
    gap = (x0[:, None] - (K[None] + c[:, None])).norm(dim=-1).min(dim=1).values.max().item()
    return gap < 0.2, f"largest distance from a final sample to its K + cond: {gap:.3f}"


PROPS("""with mu = 0, equals the reference step by step (gam 1 and 2)

      walk every consecutive pair of levels; each move along the direction is as long as the
      drop in noise level, and nothing is drawn when mu = 0

      code: move x along your ge_direction by (sigma - sigma_next) and draw nothing""",
      close("gam 1, mu 0 (DDIM)", "gam 2, mu 0, to K", atol=1e-5))

PROPS("""with mu = 1/2, equals the reference step by step on the same noise (gam 1, 2 and between;
      a conditional denoiser; images and a batch of one)

      with mu > 0 a step first goes without noise to an intermediate, lower level set by mu,
      then fresh noise makes up exactly the variance missing to the next level

      code: each step first goes without noise to the lower level sigma_p that mu sets
      (sigma_next = sigma_p^(1 - mu) sigma^mu), then fresh noise makes up the variance missing
      to sigma_next^2; draw it just before adding it, from the generator you are given, in x's
      dtype""",
      close("images, gam 2, mu 1/2", "one image, denoiser(x, sigma)",
            "gam between 1 and 2, mu 1/2", "cond, mu 1/2", atol=1e-5))


def _before_step(denoiser, sigmas, x, gam=1.0, mu=0.0, cond=None, generator=None):
    steps = walk()(denoiser, sigmas, x, gam, mu, cond, generator)
    yield x
    xs = list(steps)
    yield from xs[:-1]


def _final_only(denoiser, sigmas, x, gam=1.0, mu=0.0, cond=None, generator=None):
    return list(walk()(denoiser, sigmas, x, gam, mu, cond, generator))[-1]


def _in_place(denoiser, sigmas, x, gam=1.0, mu=0.0, cond=None, generator=None):
    eps_prev = None
    for sigma, sigma_next in zip(sigmas[:-1], sigmas[1:]):
        eps_hat = call(denoiser, x, sigma, cond)
        eps_bar = ge_direction(eps_hat, eps_prev, gam)
        s_p = sigma_p(sigma, sigma_next, mu)
        x -= (sigma - s_p) * eps_bar
        if noise_std(sigma, sigma_next, s_p) > 0:
            x += noise_std(sigma, sigma_next, s_p) * torch.randn(x.shape, generator=generator,
                                                                 dtype=x.dtype)
        eps_prev = eps_hat
        yield x


BUGS = {
    "gam ignored: the direction is always this step's eps_hat": walk(mix=False),
    "eps_prev keeps the mixed direction eps_bar, not the denoiser's eps_hat":
        walk(prev=lambda eps_hat, eps_bar: eps_bar),
    "eps_prev starts at zeros instead of None (the first step scaled by gam)":
        walk(first=torch.zeros_like),
    "mu ignored: steps to sigma_next and adds no noise":
        walk(to=lambda sigma, sigma_next, mu: sigma_next),
    "no fresh noise: stops at sigma_p": walk(std=lambda sigma, sigma_next, sigma_p: 0),
    "noise std sigma_next - sigma_p (stds added instead of variances)":
        walk(std=lambda sigma, sigma_next, sigma_p: sigma_next - sigma_p),
    "moves all the way to sigma_next, then adds the fresh noise as well":
        walk(move_to=lambda sigma_next, sigma_p: sigma_next),
    "sigma_p = sigma_next (sigma_next / sigma)^mu":
        walk(to=lambda sigma, sigma_next, mu: sigma_next * (sigma_next / sigma) ** mu),
    "cond never reaches the denoiser": walk(call=lambda d, x, sigma, cond: d(x, sigma)),
    "stops one step early (the last level is never reached)":
        walk(pairs=lambda sigmas: zip(sigmas[:-2], sigmas[1:-1])),
    "yields x before each step instead of after": _before_step,
    "returns only the final x": _final_only,
    "[held] gam = 2 hard-coded": walk(fixed_gam=2.0),
    "[held] mu = 1/2 hard-coded (sigma_p = sigma_next^2 / sigma)":
        walk(to=lambda sigma, sigma_next, mu: sigma_next**2 / sigma),
    "[held] passes cond even when it is None (a denoiser(x, sigma) breaks)":
        walk(call=lambda d, x, sigma, cond: d(x, sigma, cond)),
    "[rng] noise from the global RNG": walk(rng=False),
    "[dtype] noise drawn in float32": walk(dtype=False),
    "[mutates] steps the caller's x in place": _in_place,
}


def _through_x0(denoiser, sigmas, x, gam=1.0, mu=0.0, cond=None, generator=None):
    eps_prev = None
    for i in range(len(sigmas) - 1):
        sigma, sigma_next = sigmas[i], sigmas[i + 1]
        eps_hat = denoiser(x, sigma) if cond is None else denoiser(x, sigma, cond=cond)
        eps_bar = ge_direction(eps_hat, eps_prev, gam)
        sigma_p = sigma_next ** (1 / (1 - mu)) * sigma ** (-mu / (1 - mu))
        x0_hat = x - sigma * eps_bar
        x = x0_hat + sigma_p * eps_bar
        if mu > 0 and sigma_next > 0:
            z = torch.randn(x.shape, generator=generator, dtype=x.dtype)
            x = x + torch.sqrt(sigma_next**2 - sigma_p**2) * z
        eps_prev = eps_hat
        yield x


def _python_floats(denoiser, sigmas, x, gam=1.0, mu=0.0, cond=None, generator=None):
    eps_prev = None
    levels = [float(s) for s in sigmas]
    for sigma, sigma_next in zip(levels, levels[1:]):
        eps_hat = call(denoiser, x, sigma, cond)
        eps_bar = eps_hat if eps_prev is None else ge_direction(eps_hat, eps_prev, gam)
        sigma_p = sigma_next ** (1 / (1 - mu)) / sigma ** (mu / (1 - mu))
        x = x - (sigma - sigma_p) * eps_bar
        var = sigma_next**2 - sigma_p**2
        if var > 0:
            x = x + math.sqrt(var) * torch.randn(x.shape, generator=generator, dtype=x.dtype)
        eps_prev = eps_hat
        yield x


ALTERNATIVES = {
    "returns the list of states": as_list(walk()),
    "through x0_hat, noise only when mu > 0 and sigma_next > 0": _through_x0,
    "Python floats for the levels": _python_floats,
}


EXERCISE = exercise(globals(), points=3, summary="the course's sampler: gam and mu, in the sigma "
                    "view", harness=states,
                    proxies=("course_lib.samplers.sample",
                             "course_lib.ddim.ddim_samples",
                             "course_lib.ddpm.ddpm_samples"),
                    reread="5. A better sampler: estimate the gradient from two steps")
