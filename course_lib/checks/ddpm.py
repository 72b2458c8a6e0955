"""Checks for notebook 02 (DDPM): alpha_bar, closed-form noising, the sigma bridge, the
posterior mean and the ancestral step, each compared with diffusers' DDPMScheduler."""
from __future__ import annotations

import torch

from course_lib import ddpm
from course_lib.checking import Case, Exercise, Prop, close

NB = "02_ddpm"


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _scheduler(kind: str = "linear"):
    from diffusers import DDPMScheduler  # imported here: only the DDPM checks need it

    return DDPMScheduler(num_train_timesteps=1000, beta_schedule=kind, clip_sample=False)


# ------------------------------------------------------------------- alpha_bars

def _ab_cases():
    return {"linear": Case((ddpm.linear_betas(),)), "cosine": Case((ddpm.cosine_betas(),)),
            "tiny": Case((torch.tensor([0.1, 0.2, 0.5]),))}


def _ab_first(outs, refs):
    got = outs["tiny"].value
    return abs(got[0].item() - 0.9) < 1e-6, (f"betas [0.1, 0.2, 0.5] give "
                                             f"{[round(v, 4) for v in got.tolist()]}, "
                                             "expected [0.9, 0.72, 0.36]")


def _ab_diffusers(outs, refs):
    worst = 0.0
    for kind, name in (("linear", "linear"), ("squaredcos_cap_v2", "cosine")):
        diff = (outs[name].value - _scheduler(kind).alphas_cumprod).abs().max().item()
        worst = max(worst, diff)
    return worst < 1e-6, f"max |yours - DDPMScheduler.alphas_cumprod| = {worst:.1e}"


# ------------------------------------------------------------------- q_sample

def _q_cases():
    g = _gen(10)
    ab = ddpm.alpha_bars(ddpm.linear_betas())
    x0, eps = torch.randn(6, 2, generator=g), torch.randn(6, 2, generator=g)
    img, img_eps = torch.randn(3, 3, 4, 4, generator=g), torch.randn(3, 3, 4, 4, generator=g)
    big, big_eps = torch.randn(4096, 2, generator=g), torch.randn(4096, 2, generator=g)
    return {"batch": Case((x0, torch.tensor([0, 5, 100, 500, 900, 999]), eps, ab)),
            "images": Case((img, torch.tensor([10, 400, 990]), img_eps, ab)),
            "variance": Case((big, torch.full((4096,), 500), big_eps, ab))}


def _q_diffusers(outs, refs):
    c = _q_cases()["batch"].args
    want = _scheduler().add_noise(c[0], c[2], c[1])
    diff = (outs["batch"].value - want).abs().max().item()
    return diff < 1e-5, f"max |yours - DDPMScheduler.add_noise| = {diff:.1e}"


def _q_variance(outs, refs):
    var = outs["variance"].value.var().item()
    return abs(var - 1) < 0.06, f"variance of x_t for unit-variance x0 at t = 500: {var:.3f}"


# ------------------------------------------------------------------- alpha_bar_to_sigma

def _sig_cases():
    return {"simple": Case((torch.tensor([1.0, 0.5, 0.2]),)),
            "linear": Case((ddpm.alpha_bars(ddpm.linear_betas()),))}


def _sig_simple(outs, refs):
    got = outs["simple"].value.tolist()
    ok = all(abs(a - b) < 1e-5 for a, b in zip(got, [0.0, 1.0, 2.0]))
    return ok, f"alpha_bar [1, 0.5, 0.2] -> {[round(v, 4) for v in got]}, expected [0, 1, 2]"


# ------------------------------------------------------------------- posterior_mean

def _post_cases():
    g = _gen(11)
    ab = ddpm.alpha_bars(ddpm.linear_betas())
    x0, x_t = torch.randn(5, 2, generator=g), torch.randn(5, 2, generator=g)
    on_mean = ab[300].sqrt() * x0
    return {"t500": Case((x0, x_t, 500, ab)), "t1": Case((x0, x_t, 1, ab)),
            "t0": Case((x0, x_t, 0, ab)), "on_mean": Case((x0, on_mean, 300, ab))}


def _post_t0(outs, refs):
    x0 = _post_cases()["t0"].args[0]
    diff = (outs["t0"].value - x0).abs().max().item()
    return diff < 1e-4, f"at t = 0 (alpha_bar_-1 = 1) max |mean - x0| = {diff:.1e}, expected 0"


def _post_on_mean(outs, refs):
    c = _post_cases()["on_mean"].args
    want = c[3][299].sqrt() * c[0]
    diff = (outs["on_mean"].value - want).abs().max().item()
    return diff < 1e-5, (f"with x_t = sqrt(alpha_bar_t) x0 the mean should be "
                         f"sqrt(alpha_bar_(t-1)) x0: max diff {diff:.1e}")


# ------------------------------------------------------------------- ddpm_step

def _step_cases():
    g = _gen(12)
    ab = _scheduler().alphas_cumprod
    x, e, z = (torch.randn(6, 2, generator=g) for _ in range(3))
    z2 = torch.randn(6, 2, generator=g)
    return {f"t{t}": Case((x, t, e, ab, z)) for t in (999, 500, 1)} | {
        "t0": Case((x, 0, e, ab, z)), "t0_other_noise": Case((x, 0, e, ab, z2))}


def _step_diffusers(outs, refs):
    cases, worst = _step_cases(), 0.0
    for name in ("t999", "t500", "t1", "t0"):
        x, t, e, _, z = cases[name].args
        s = _scheduler()
        s.set_timesteps(1000)
        want = s.step(e, t, x, generator=_noise_generator(z)).prev_sample
        worst = max(worst, (outs[name].value - want).abs().max().item())
    return worst < 2e-4, (f"max |yours - DDPMScheduler.step| over t = 999, 500, 1, 0 = "
                          f"{worst:.1e} (fixed_small variance, clip_sample=False, same noise)")


def _noise_generator(z):
    """A generator whose next randn(6, 2) draw is z: _step_cases draws x, e, z from seed 12."""
    g = _gen(12)
    for _ in range(2):
        torch.randn(6, 2, generator=g)
    return g


def _step_t0(outs, refs):
    same = torch.equal(outs["t0"].value, outs["t0_other_noise"].value)
    return same, "t = 0 ignores the noise" if same else "the result at t = 0 depends on noise"


EXERCISES = [
    Exercise(
        id="alpha_bars", notebook=NB, points=2, reference=ddpm.alpha_bars, cases=_ab_cases,
        summary="cumulative product of 1 - beta",
        props=[
            Prop("alpha_bar_0 = 1 - beta_0, then a running product", _ab_first,
                 "alpha_bar_t = (1 - beta_0)(1 - beta_1)...(1 - beta_t): "
                 "torch.cumprod(1 - betas, 0)"),
            Prop("equals DDPMScheduler.alphas_cumprod (linear and cosine)", _ab_diffusers,
                 "a product, not a sum; of alpha = 1 - beta, not of beta"),
        ],
    ),
    Exercise(
        id="q_sample", notebook=NB, points=2, reference=ddpm.q_sample, cases=_q_cases,
        summary="closed-form x_t from x0",
        props=[
            Prop("equals DDPMScheduler.add_noise", _q_diffusers,
                 "x_t = sqrt(alpha_bar[t]) * x0 + sqrt(1 - alpha_bar[t]) * eps: both square "
                 "roots, signal weight sqrt(alpha_bar), noise weight sqrt(1 - alpha_bar)"),
            Prop("keeps unit variance (variance preserving)", _q_variance,
                 "the two weights' squares add to 1 only with the square roots in place"),
            Prop("works for image batches, one t per image", close("images"),
                 "index alpha_bar[t] (shape (B,)), then reshape to (B, 1, 1, 1) to broadcast"),
        ],
    ),
    Exercise(
        id="alpha_bar_to_sigma", notebook=NB, points=1, reference=ddpm.alpha_bar_to_sigma,
        cases=_sig_cases, summary="the sigma view's noise level of a DDPM step",
        props=[
            Prop("alpha_bar = 1, 0.5, 0.2 give sigma = 0, 1, 2", _sig_simple,
                 "x_t / sqrt(alpha_bar) = x0 + sqrt((1 - alpha_bar) / alpha_bar) * eps"),
            Prop("matches the reference on the linear schedule", close("linear", rtol=1e-4),
                 "sigma = sqrt(1 / alpha_bar - 1), a square root of the noise-to-signal ratio"),
        ],
    ),
    Exercise(
        id="posterior_mean", notebook=NB, points=2, reference=ddpm.posterior_mean,
        cases=_post_cases, summary="mean of q(x_{t-1} | x_t, x0)",
        props=[
            Prop("at t = 0 the mean is x0", _post_t0,
                 "use alpha_bar_(t-1) = 1 when t = 0: then 1 - alpha_bar_t = beta_t"),
            Prop("x_t = sqrt(alpha_bar_t) x0 gives sqrt(alpha_bar_(t-1)) x0", _post_on_mean,
                 "the x0 weight is sqrt(alpha_bar_(t-1)) beta_t / (1 - alpha_bar_t); the x_t "
                 "weight is sqrt(alpha_t) (1 - alpha_bar_(t-1)) / (1 - alpha_bar_t)"),
            Prop("matches the reference at t = 500 and t = 1", close("t500", "t1"),
                 "alpha_t = alpha_bar[t] / alpha_bar[t - 1] and beta_t = 1 - alpha_t"),
        ],
    ),
    Exercise(
        id="ddpm_step", notebook=NB, points=3, reference=ddpm.ddpm_step, cases=_step_cases,
        summary="one ancestral sampling step",
        props=[
            Prop("adds no noise at t = 0", _step_t0,
                 "the last step returns the mean: if t == 0, skip the noise"),
            Prop("equals DDPMScheduler.step", _step_diffusers,
                 "x0_hat = (x_t - sqrt(1 - alpha_bar_t) eps_hat) / sqrt(alpha_bar_t); mean = "
                 "posterior_mean(x0_hat, x_t, t); std = sqrt(beta_tilde_t) with "
                 "beta_tilde_t = (1 - alpha_bar_(t-1)) / (1 - alpha_bar_t) * beta_t"),
        ],
    ),
]
