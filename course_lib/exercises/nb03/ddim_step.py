"""Exercise `ddim_step` (notebook 03): one DDIM update from alpha_bar_t to alpha_bar_prev."""
from __future__ import annotations

import torch

from course_lib.checking import Case, Props, close, exercise
from course_lib.exercises.common import gen
from course_lib.exercises.nb03.ddim_noise_std import ddim_noise_std
from course_lib.exercises.nb03.probes import ddim_scheduler, linear_alpha_bar


# <solution cell>
def ddim_step(x_t: torch.Tensor, eps_hat: torch.Tensor, alpha_bar_t: torch.Tensor,
              alpha_bar_prev: torch.Tensor, eta: float, noise: torch.Tensor) -> torch.Tensor:
    """One DDIM update from alpha_bar_t to alpha_bar_prev (DDIM eq. 12)."""
    ### BEGIN SOLUTION
    x0_hat = (x_t - (1 - alpha_bar_t).sqrt() * eps_hat) / alpha_bar_t.sqrt()
    s = ddim_noise_std(alpha_bar_t, alpha_bar_prev, eta)
    direction = (1 - alpha_bar_prev - s**2).sqrt() * eps_hat
    return alpha_bar_prev.sqrt() * x0_hat + direction + s * noise
    ### END SOLUTION
# </solution cell>


def cases() -> dict[str, Case]:
    g = gen(20)
    ab = linear_alpha_bar()
    x, e, z = (torch.randn(6, 2, generator=g) for _ in range(3))
    z2 = torch.randn(6, 2, generator=g)
    x0 = torch.randn(6, 2, generator=g)
    x_exact = ab[500].sqrt() * x0 + (1 - ab[500]).sqrt() * e
    one = torch.tensor(1.0)
    return {"eta0": Case((x, e, ab[900], ab[800], 0.0, z)),
            "eta0_other_noise": Case((x, e, ab[900], ab[800], 0.0, z2)),
            "eta1": Case((x, e, ab[900], ab[800], 1.0, z)),
            "eta_half": Case((x, e, ab[300], ab[200], 0.5, z)),
            "exact": Case((x_exact, e, ab[500], one, 0.0, z))}


PROPS = Props()


@PROPS("equals DDIMScheduler.step",
       "the direction term is sqrt(1 - a_prev - std^2) * eps_hat")
def _diffusers(outs, refs):
    all_cases, worst = cases(), 0.0
    for name, t in (("eta0", 900), ("eta1", 900)):
        x, e, _, _, eta, z = all_cases[name].args
        s = ddim_scheduler()
        s.set_timesteps(10)  # 1000 // 10 = 100: from t = 900 to 800, as in the case
        want = s.step(e, t, x, eta=eta, variance_noise=z).prev_sample
        worst = max(worst, (outs[name].value - want).abs().max().item())
    return worst < 1e-5, (f"max |yours - DDIMScheduler.step| at eta = 0 and 1 = {worst:.1e} "
                          "(clip_sample=False, same noise)")


@PROPS("eta = 0 is deterministic",
       "the noise enters multiplied by the std, which is 0 at eta = 0")
def _deterministic(outs, refs):
    same = torch.equal(outs["eta0"].value, outs["eta0_other_noise"].value)
    return same, "eta = 0 ignores the noise" if same else "eta = 0 still uses the noise"


@PROPS("recovers x0 from an exact x_t when alpha_bar_prev = 1",
       "x0_hat = (x_t - sqrt(1 - a_t) eps_hat) / sqrt(a_t); then the result is "
       "sqrt(a_prev) x0_hat + ...")
def _exact(outs, refs):
    g = gen(20)
    for _ in range(4):
        torch.randn(6, 2, generator=g)
    x0 = torch.randn(6, 2, generator=g)
    diff = (outs["exact"].value - x0).abs().max().item()
    return diff < 1e-4, f"true eps, alpha_bar_prev = 1: max |result - x0| = {diff:.1e}"


def _ddim(x, e, a_t, a_prev, eta, z, direction=True, minus_std=True, noise_scale=None):
    x0_hat = (x - (1 - a_t).sqrt() * e) / a_t.sqrt()
    s = ddim_noise_std(a_t, a_prev, eta)
    d = (1 - a_prev - (s**2 if minus_std else 0)).sqrt() * e if direction else 0
    return a_prev.sqrt() * x0_hat + d + (s if noise_scale is None else noise_scale) * z


BUGS = {
    "no direction term": lambda *c: _ddim(*c, direction=False),
    "direction ignores the std": lambda *c: _ddim(*c, minus_std=False),
    "noise not scaled by std": lambda *c: _ddim(*c, noise_scale=1.0),
    "x0_hat without square roots": lambda x, e, a, p, eta, z: p.sqrt() * (x - (1 - a) * e) / a
    + (1 - p - ddim_noise_std(a, p, eta) ** 2).sqrt() * e + ddim_noise_std(a, p, eta) * z,
}

def _schedulers_step() -> tuple:
    from diffusers import DDIMScheduler, DDPMScheduler

    return (DDPMScheduler.step, DDIMScheduler.step)


PROPS("matches the reference at eta = 0.5",
      "std = ddim_noise_std(a_t, a_prev, eta), added as std * noise",
      close("eta_half"))

EXERCISE = exercise(globals(), points=3,
                    summary="the DDIM update (eq. 12)", proxies=_schedulers_step)
