"""Checks for notebook 03 (DDIM): timestep subsequence, noise std, the eta-update and the
sigma-view schedule, compared with diffusers' DDIMScheduler where it has the same thing."""
from __future__ import annotations

import torch

from course_lib import ddim, ddpm
from course_lib.checking import Case, Exercise, Prop, close

NB = "03_ddim"


def _ddim_scheduler():
    from diffusers import DDIMScheduler  # imported here: only these checks need it

    # clip_sample=False: the textbook update; set_alpha_to_one=True (the default): the last
    # step lands on alpha_bar = 1, which our loop does too.
    return DDIMScheduler(num_train_timesteps=1000, clip_sample=False)


def _ab():
    return ddpm.alpha_bars(ddpm.linear_betas())


# ------------------------------------------------------------------- ddim_timesteps

def _ts_cases():
    return {"n10": Case((1000, 10)), "n50": Case((1000, 50)), "n3": Case((1000, 3))}


def _ts_diffusers(outs, refs):
    for name, n in (("n10", 10), ("n50", 50), ("n3", 3)):
        s = _ddim_scheduler()
        s.set_timesteps(n)
        got = outs[name].value
        if not torch.equal(got, s.timesteps):
            return False, (f"n = {n}: yours {got.tolist()[:6]}..., "
                           f"diffusers {s.timesteps.tolist()[:6]}...")
    return True, "same as DDIMScheduler.set_timesteps(n).timesteps for n = 10, 50, 3"


# ------------------------------------------------------------------- ddim_noise_std

def _std_cases():
    ab = _ab()
    t, prev = torch.tensor([999, 500, 100, 20]), torch.tensor([899, 400, 80, 0])
    return {"eta0": Case((ab[t], ab[prev], 0.0)), "eta1": Case((ab[t], ab[prev], 1.0)),
            "eta_half": Case((ab[t], ab[prev], 0.5))}


def _std_zero(outs, refs):
    got = outs["eta0"].value.abs().max().item()
    return got == 0.0, f"max std at eta = 0: {got:.2e}, expected 0"


def _std_ddpm(outs, refs):
    ab = _ab()
    t, prev = torch.tensor([999, 500, 100, 20]), torch.tensor([899, 400, 80, 0])
    a_t, a_prev = ab[t], ab[prev]
    want = ((1 - a_prev) / (1 - a_t) * (1 - a_t / a_prev)).sqrt()
    diff = (outs["eta1"].value - want).abs().max().item()
    return diff < 1e-5, f"max |std(eta=1) - sqrt(beta_tilde)| = {diff:.1e}"


# ------------------------------------------------------------------- ddim_step

def _step_cases():
    g = torch.Generator().manual_seed(20)
    ab = _ab()
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


def _step_diffusers(outs, refs):
    cases, worst = _step_cases(), 0.0
    for name, t in (("eta0", 900), ("eta1", 900)):
        x, e, _, _, eta, z = cases[name].args
        s = _ddim_scheduler()
        s.set_timesteps(10)  # 1000 // 10 = 100: from t = 900 to 800, as in the case
        want = s.step(e, t, x, eta=eta, variance_noise=z).prev_sample
        worst = max(worst, (outs[name].value - want).abs().max().item())
    return worst < 1e-5, (f"max |yours - DDIMScheduler.step| at eta = 0 and 1 = {worst:.1e} "
                          "(clip_sample=False, same noise)")


def _step_deterministic(outs, refs):
    same = torch.equal(outs["eta0"].value, outs["eta0_other_noise"].value)
    return same, "eta = 0 ignores the noise" if same else "eta = 0 still uses the noise"


def _step_exact(outs, refs):
    g = torch.Generator().manual_seed(20)
    for _ in range(4):
        torch.randn(6, 2, generator=g)
    x0 = torch.randn(6, 2, generator=g)
    diff = (outs["exact"].value - x0).abs().max().item()
    return diff < 1e-4, f"true eps, alpha_bar_prev = 1: max |result - x0| = {diff:.1e}"


# ------------------------------------------------------------------- ddim_sigmas

def _sig_cases():
    ab = _ab()
    return {"n10": Case((ab, ddim.ddim_timesteps(1000, 10))),
            "n4": Case((ab, torch.tensor([750, 500, 250, 0])))}


def _sig_shape(outs, refs):
    s = outs["n10"].value
    ok = s[-1].item() == 0.0 and bool((s[1:] < s[:-1]).all())
    return ok, f"first {s[0]:.3g}, last {s[-1]:.3g}, decreasing: {bool((s[1:] < s[:-1]).all())}"


EXERCISES = [
    Exercise(
        id="ddim_timesteps", notebook=NB, points=1, reference=ddim.ddim_timesteps,
        cases=_ts_cases, summary="the timestep subsequence, diffusers' leading spacing",
        props=[
            Prop("equals diffusers' DDIMScheduler timesteps", _ts_diffusers,
                 "multiples of T // n from (n - 1) * (T // n) down to 0: "
                 "(torch.arange(n) * (T // n)).flip(0)"),
        ],
    ),
    Exercise(
        id="ddim_noise_std", notebook=NB, points=2, reference=ddim.ddim_noise_std,
        cases=_std_cases, summary="the noise std of the DDIM update (eq. 16)",
        props=[
            Prop("eta = 0 gives no noise", _std_zero, "the whole expression is scaled by eta"),
            Prop("eta = 1 gives DDPM's posterior std sqrt(beta_tilde)", _std_ddpm,
                 "sqrt((1 - a_prev) / (1 - a_t)) * sqrt(1 - a_t / a_prev): two square roots, "
                 "and the ratio is a_t / a_prev (the alpha of that jump)"),
            Prop("matches the reference at eta = 0.5", close("eta_half"), "scale linearly by eta"),
        ],
    ),
    Exercise(
        id="ddim_step", notebook=NB, points=3, reference=ddim.ddim_step, cases=_step_cases,
        summary="the DDIM update (eq. 12)",
        props=[
            Prop("eta = 0 is deterministic", _step_deterministic,
                 "the noise enters multiplied by the std, which is 0 at eta = 0"),
            Prop("recovers x0 from an exact x_t when alpha_bar_prev = 1", _step_exact,
                 "x0_hat = (x_t - sqrt(1 - a_t) eps_hat) / sqrt(a_t); then the result is "
                 "sqrt(a_prev) x0_hat + ..."),
            Prop("equals DDIMScheduler.step", _step_diffusers,
                 "the direction term is sqrt(1 - a_prev - std^2) * eps_hat"),
            Prop("matches the reference at eta = 0.5", close("eta_half"),
                 "std = ddim_noise_std(a_t, a_prev, eta), added as std * noise"),
        ],
    ),
    Exercise(
        id="ddim_sigmas", notebook=NB, points=2, reference=ddim.ddim_sigmas, cases=_sig_cases,
        summary="the sigma-view schedule of a timestep subsequence",
        props=[
            Prop("decreasing and ending at 0", _sig_shape,
                 "append a final 0 after the sigmas of the timesteps: the last step lands on "
                 "x0_hat"),
            Prop("matches the reference", close("n10", "n4", rtol=1e-4),
                 "sigma_t = sqrt(1 / alpha_bar[t] - 1) for each t in timesteps"),
        ],
    ),
]
