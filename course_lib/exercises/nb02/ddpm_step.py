"""Exercise `ddpm_step` (notebook 02): one ancestral sampling step x_t -> x_(t-1)."""
from __future__ import annotations

import torch

from course_lib.checking import Case, Props, close, exercise
from course_lib.exercises.common import gen, pick
from course_lib.exercises.nb02.posterior_mean import posterior_mean
from course_lib.exercises.nb02.probes import alpha_bar64, alpha_bar_prev, ddpm_scheduler


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


def _scaled_T() -> int:
    return pick(23, 1000, 500, 100)


def cases() -> dict[str, Case]:
    g = gen(12)
    ab = ddpm_scheduler().alphas_cumprod
    x, e, z = (torch.randn(6, 2, generator=g) for _ in range(3))
    z2 = torch.randn(6, 2, generator=g)
    h = gen(13)  # x, eps_hat, noise in this order: _noise_generator replays the noise
    cx, ce, cz = (torch.randn(5, 2, generator=h) for _ in range(3))
    k = gen(14)
    sx, se, sz = (torch.randn(1, 3, 4, 4, generator=k) for _ in range(3))
    T = _scaled_T()
    f = gen(15)
    fx, fe, fz = (torch.randn(3, 2, generator=f, dtype=torch.float64) for _ in range(3))
    ab64 = alpha_bar64(pick(24, "scaled_linear", "linear"), 300)
    return {f"t{t}": Case((x, t, e, ab, z)) for t in (999, 500, 1)} | {
        "t0": Case((x, 0, e, ab, z)), "t0_other_noise": Case((x, 0, e, ab, z2)),
        "cosine": Case((cx, pick(25, 600, 3, 999, 250), ce,
                        ddpm_scheduler("squaredcos_cap_v2").alphas_cumprod, cz)),
        "scaled_linear": Case((sx, min(pick(26, 400, 1, T - 1), T - 1), se,
                               ddpm_scheduler("scaled_linear", T).alphas_cumprod, sz)),
        "float64": Case((fx, pick(27, 150, 1, 299), fe, ab64, fz)),
        "float64_t0": Case((fx, 0, fe, ab64, fz))}


def _noise_generator(z, n=12):
    """A generator whose next draw is z: cases() draws x, e, z from gen(n) in this order."""
    g = gen(n)
    for _ in range(2):
        torch.randn(z.shape, generator=g)
    return g


PROPS = Props()


@PROPS
def _diffusers(outs, refs):
    """equals DDPMScheduler.step

    guess x0 by undoing the closed-form noising with eps_hat, take the posterior mean at that
    guess, then add the given noise scaled by a standard deviation: the square root of the
    posterior variance beta_tilde_t, not of beta_t

    code: x0_hat divides by alpha_bar_t.sqrt() after removing (1 - alpha_bar_t).sqrt() times
    eps_hat; then your posterior_mean(x0_hat, x_t, t, alpha_bar); noise times
    beta_tilde_t.sqrt()"""
    all_cases, worst = cases(), 0.0
    for name, kind, T, n in [(name, "linear", 1000, 12) for name in ("t999", "t500", "t1", "t0")
                             ] + [("cosine", "squaredcos_cap_v2", 1000, 13),
                                  ("scaled_linear", "scaled_linear", _scaled_T(), 14)]:
        x, t, e, _, z = all_cases[name].args
        s = ddpm_scheduler(kind, T)
        s.set_timesteps(T)
        want = s.step(e, t, x, generator=_noise_generator(z, n)).prev_sample
        scale = max(1.0, want.abs().max().item())  # float32 rounding grows with the values
        worst = max(worst, (outs[name].value - want).abs().max().item() / scale)
    return worst < 2e-4, (f"max |yours - DDPMScheduler.step| / max(1, |x_(t-1)|) = {worst:.1e} "
                          "over t = 999, 500, 1, 0 (linear), the cosine and the scaled-linear "
                          "schedules (fixed_small variance, clip_sample=False, same noise)")


@PROPS
def _t0(outs, refs):
    """adds no noise at t = 0

    the last step returns the posterior mean itself: the given noise must not enter at t = 0

    code: if t == 0: return the mean before adding anything"""
    same = torch.equal(outs["t0"].value, outs["t0_other_noise"].value)
    return same, "t = 0 ignores the noise" if same else "the result at t = 0 depends on noise"


def _step(x, t, e, ab, z, var="tilde", sign=-1):
    a_t, a_prev = ab[t], alpha_bar_prev(ab, t)
    x0_hat = (x + sign * (1 - a_t).sqrt() * e) / a_t.sqrt()
    mean = posterior_mean(x0_hat, x, t, ab)
    beta = 1 - a_t / a_prev
    v = {"tilde": (1 - a_prev) / (1 - a_t) * beta, "beta": beta}[var]
    return mean if t == 0 else mean + v.sqrt() * z


def _into_x_t(x, t, e, ab, z):
    return x.copy_(_step(x, t, e, ab, z))  # the right values, written over the caller's x_t


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
    "[held] the notebook's linear schedule whatever alpha_bar is given":
        lambda x, t, e, ab, z: _step(x, t, e, ddpm_scheduler().alphas_cumprod, z),
    "[rng] draws its own noise": lambda x, t, e, ab, z: _step(x, t, e, ab, torch.randn_like(x)),
    "[dtype] coefficients in float32": lambda x, t, e, ab, z: _step(x, t, e, ab.float(), z),
    "[alias] writes the result into x_t": _into_x_t,
}
ALTERNATIVES = {"Algorithm 2 literally": _algorithm2}

PROPS("""keeps float64 precision, t = 0 included

      stay in the inputs' dtype, the t = 0 case included: no float32 step in between

      code: no .float(); at t = 0 a plain 1.0 can stand in for the previous alpha_bar""",
      close("float64", "float64_t0", atol=1e-12, rtol=1e-10))


EXERCISE = exercise(globals(), points=3,
                    summary="one ancestral sampling step",
                    proxies=("diffusers.DDPMScheduler.step", "diffusers.DDIMScheduler.step"),
                    reread="7. Ancestral sampling")
