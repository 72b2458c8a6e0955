"""Exercise `ddpm_step` (notebook 02): one ancestral sampling step x_t -> x_(t-1)."""
from __future__ import annotations

import torch

from course_lib.checking import Case, Props, exercise
from course_lib.exercises.common import gen
from course_lib.exercises.nb02.posterior_mean import posterior_mean
from course_lib.exercises.nb02.probes import alpha_bar_prev, ddpm_scheduler


# <solution cell>
def ddpm_step(x_t: torch.Tensor, t: int, eps_hat: torch.Tensor, alpha_bar: torch.Tensor,
              noise: torch.Tensor) -> torch.Tensor:
    """One ancestral step x_t -> x_{t-1} with variance beta_tilde_t; no noise at t = 0."""
    ### BEGIN SOLUTION
    a_t = alpha_bar[t]
    a_prev = alpha_bar[t - 1] if t > 0 else torch.tensor(1.0)
    x0_hat = (x_t - (1 - a_t).sqrt() * eps_hat) / a_t.sqrt()
    mean = posterior_mean(x0_hat, x_t, t, alpha_bar)
    if t == 0:
        return mean
    var = (1 - a_prev) / (1 - a_t) * (1 - a_t / a_prev)
    return mean + var.sqrt() * noise
    ### END SOLUTION
# </solution cell>


def cases() -> dict[str, Case]:
    g = gen(12)
    ab = ddpm_scheduler().alphas_cumprod
    x, e, z = (torch.randn(6, 2, generator=g) for _ in range(3))
    z2 = torch.randn(6, 2, generator=g)
    return {f"t{t}": Case((x, t, e, ab, z)) for t in (999, 500, 1)} | {
        "t0": Case((x, 0, e, ab, z)), "t0_other_noise": Case((x, 0, e, ab, z2))}


def _noise_generator(z):
    """A generator whose next randn(6, 2) draw is z: cases() draws x, e, z from seed 12."""
    g = gen(12)
    for _ in range(2):
        torch.randn(6, 2, generator=g)
    return g


PROPS = Props()


@PROPS("equals DDPMScheduler.step",
       "x0_hat = (x_t - sqrt(1 - alpha_bar_t) eps_hat) / sqrt(alpha_bar_t); mean = "
       "posterior_mean(x0_hat, x_t, t); std = sqrt(beta_tilde_t) with "
       "beta_tilde_t = (1 - alpha_bar_(t-1)) / (1 - alpha_bar_t) * beta_t")
def _diffusers(outs, refs):
    all_cases, worst = cases(), 0.0
    for name in ("t999", "t500", "t1", "t0"):
        x, t, e, _, z = all_cases[name].args
        s = ddpm_scheduler()
        s.set_timesteps(1000)
        want = s.step(e, t, x, generator=_noise_generator(z)).prev_sample
        worst = max(worst, (outs[name].value - want).abs().max().item())
    return worst < 2e-4, (f"max |yours - DDPMScheduler.step| over t = 999, 500, 1, 0 = "
                          f"{worst:.1e} (fixed_small variance, clip_sample=False, same noise)")


@PROPS("adds no noise at t = 0",
       "the last step returns the mean: if t == 0, skip the noise")
def _t0(outs, refs):
    same = torch.equal(outs["t0"].value, outs["t0_other_noise"].value)
    return same, "t = 0 ignores the noise" if same else "the result at t = 0 depends on noise"


def _step(x, t, e, ab, z, var="tilde", sign=-1):
    a_t, a_prev = ab[t], alpha_bar_prev(ab, t)
    x0_hat = (x + sign * (1 - a_t).sqrt() * e) / a_t.sqrt()
    mean = posterior_mean(x0_hat, x, t, ab)
    beta = 1 - a_t / a_prev
    v = {"tilde": (1 - a_prev) / (1 - a_t) * beta, "beta": beta}[var]
    return mean if t == 0 else mean + v.sqrt() * z


def _algorithm2(x, t, e, ab, z):
    """Ho et al.'s Algorithm 2 written literally: a correct alternative form."""
    a_t, a_prev = ab[t], alpha_bar_prev(ab, t)
    alpha = a_t / a_prev
    mean = (x - (1 - alpha) / (1 - a_t).sqrt() * e) / alpha.sqrt()
    if t == 0:
        return mean
    return mean + ((1 - a_prev) / (1 - a_t) * (1 - alpha)).sqrt() * z


BUGS = {
    "x0_hat without square roots": lambda x, t, e, ab, z: posterior_mean(
        (x - (1 - ab[t]) * e) / ab[t], x, t, ab) + (ddpm_step(x, t, e, ab, z)
                                                    - ddpm_step(x, t, e, ab, 0 * z)),
    "variance beta (not beta_tilde)": lambda x, t, e, ab, z: _step(x, t, e, ab, z, var="beta"),
    "sign of eps_hat": lambda x, t, e, ab, z: _step(x, t, e, ab, z, sign=1),
    "no noise at all": lambda x, t, e, ab, z: _step(x, 0, e, ab, z) if t == 0
    else posterior_mean((x - (1 - ab[t]).sqrt() * e) / ab[t].sqrt(), x, t, ab),
}
ALTERNATIVES = {"Algorithm 2 literally": _algorithm2}

def _schedulers_step() -> tuple:
    from diffusers import DDIMScheduler, DDPMScheduler

    return (DDPMScheduler.step, DDIMScheduler.step)


EXERCISE = exercise(globals(), points=3,
                    summary="one ancestral sampling step", proxies=_schedulers_step)
