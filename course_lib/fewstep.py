"""Sampling in few steps: the probability-flow ODE and DPM-Solver++ in the course's sigma view.

Introduced in notebook 11 (Lu et al., "DPM-Solver++", 2022). In the sigma view x = x0 + sigma eps
the probability-flow ODE is dx/dsigma = eps_hat(x, sigma) = (x - x0_hat) / sigma, and DDIM is
its Euler step (notebooks 03-04). In lambda = -log sigma (the half-log-SNR) the same ODE reads
dx/dlambda = x0_hat - x: linear in x, so the x part is solved exactly and only the data guess
x0_hat is approximated, held fixed over a step (first order: DDIM again) or extrapolated from
the previous step's guess (second-order multistep, "2M"). What this is not: the noise-prediction
DPM-Solver, the singlestep and third-order variants, or the SDE samplers.

diffusers' DPMSolverMultistepScheduler works in the VP form x_t = alpha_t x0 + sigma_t eps with
alpha_t = 1 / sqrt(1 + sigma^2) and sigma_t = sigma alpha_t: x_t = alpha_t x, sigma = sigma_t /
alpha_t, and its lambda_t = log(alpha_t / sigma_t) is our lambda. Its dpmsolver++ order-2
("midpoint") update from (x_t, sigma_t) to (x_t', sigma_t'), with h = lambda' - lambda,
r = h_prev / h, D0 = x0_hat and D1 = (x0_hat - x0_prev) / r, is
    x_t' = (sigma_t' / sigma_t) x_t - alpha_t' (exp(-h) - 1) (D0 + D1 / 2);
divided by alpha_t' it is ours: x' = (sigma' / sigma) x + (1 - sigma' / sigma) (D0 + D1 / 2),
because (sigma_t' / sigma_t) alpha_t / alpha_t' = sigma' / sigma and exp(-h) = sigma' / sigma.
"""
from __future__ import annotations

import torch

from course_lib import bridge, samplers
from course_lib.exercises.nb02.alpha_bar_to_sigma import alpha_bar_to_sigma

# The notebook's exercises: each reference lives once, in its exercise file.
from course_lib.exercises.nb11.dpm_2m_step import dpm_2m_step
from course_lib.exercises.nb11.dpm_first_order_step import dpm_first_order_step
from course_lib.exercises.nb11.dpm_solver_samples import dpm_solver_samples
from course_lib.runtime import progress_bar

__all__ = ["SAMPLERS", "as_timestep_model", "course_latents", "diffusers_dpm",
           "diffusers_states", "dpm_2m_step", "dpm_first_order_step", "dpm_solver_samples",
           "final_gap", "half_log_snr", "pipeline_states", "run", "sample"]

SAMPLERS = ("DDIM", "DPM-Solver++(2M)", "GE (gam=2)")


def half_log_snr(sigma: torch.Tensor) -> torch.Tensor:
    """lambda = -log sigma: half the log of the signal-to-noise ratio 1 / sigma^2 (+inf at 0)."""
    return -torch.log(sigma)


def run(sampler: str, denoiser, sigmas: torch.Tensor, x: torch.Tensor, cond=None,
        trajectory: bool = False):
    """One of SAMPLERS from x at sigmas[0] down the list: the final x, or every state after
    the start (len(sigmas) - 1, *x.shape). DDIM and GE are notebook 04's (gam, mu = 0) loop."""
    if sampler not in SAMPLERS:
        raise ValueError(f"unknown sampler {sampler!r}; choose one of {SAMPLERS}")
    with torch.no_grad():
        if sampler.startswith("DPM"):
            states = list(dpm_solver_samples(denoiser, sigmas, x, cond))
        else:
            gam = 2.0 if sampler.startswith("GE") else 1.0
            states = list(samplers.samples(denoiser, sigmas, x, gam=gam, cond=cond))
    return torch.stack(states) if trajectory else states[-1]


def sample(denoiser, sigmas: torch.Tensor, n: int | None = None, dim: int = 2, seed: int = 0,
           x: torch.Tensor | None = None, trajectory: bool = False, cond=None,
           progress: bool = False):
    """DPM-Solver++(2M) samples from n fresh noises (seeded, times sigmas[0]) or from x given:
    the final x (n, dim), or every state (len(sigmas), n, dim), the start included."""
    if x is None:
        x = sigmas[0] * torch.randn(n, dim, generator=torch.Generator().manual_seed(seed))
    with torch.no_grad():
        steps = progress_bar(dpm_solver_samples(denoiser, sigmas, x, cond), total=len(sigmas) - 1,
                     desc="DPM-Solver++(2M)", disable=not progress)
        states = [x] + list(steps)
    return torch.stack(states) if trajectory else states[-1]


def final_gap(a: torch.Tensor, b: torch.Tensor) -> float:
    """Mean distance between paired samples (B, *D): how far one ODE solve ends from another
    started from the same noises."""
    return (a - b).flatten(1).norm(dim=1).mean().item()


# --- diffusers' scheduler on the same timesteps ---------------------------------------------
def diffusers_dpm(scheduler=None, **overrides):
    """diffusers' DPMSolverMultistepScheduler as notebook 11 compares with it: dpmsolver++,
    order 2, midpoint form, lower_order_final (its default; with final_sigmas_type "zero", the
    default, the step to sigma = 0 is first order whatever the step count), on the noise
    schedule and spacing of `scheduler`'s config (default: the course's levels, as
    evaluation.dpm_solver_scheduler, at integer timesteps), with `overrides` on top."""
    from diffusers import DPMSolverMultistepScheduler

    from course_lib import evaluation

    base = scheduler if scheduler is not None else evaluation.dpm_solver_scheduler()
    config = {k: v for k, v in base.config.items() if not k.startswith("_")}
    config.update(use_exponential_sigmas=False, algorithm_type="dpmsolver++", solver_order=2,
                  solver_type="midpoint", lower_order_final=True, final_sigmas_type="zero")
    config.update(overrides)
    return DPMSolverMultistepScheduler.from_config(config)  # a DDIM config's extra keys: ignored


def as_timestep_model(denoiser, scheduler):
    """The course's denoiser(x_sigma, sigma, cond=None) -> eps_hat as a diffusers-style model
    model(x_t, t, cond=None) -> eps_hat at integer timesteps t of scheduler's training schedule:
    bridge.UNetDenoiser the other way round (sigma = sqrt(1 / alpha_bar_t - 1), x = x_t sqrt(1 +
    sigma^2))."""
    sigmas = alpha_bar_to_sigma(scheduler.alphas_cumprod.double())          # (T,)

    def model(x_t: torch.Tensor, t, cond=None) -> torch.Tensor:
        sigma = sigmas[torch.as_tensor(t).long()].to(x_t.dtype)
        x = x_t * (1 + sigma**2).sqrt()
        return denoiser(x, sigma) if cond is None else denoiser(x, sigma, cond)
    return model


@torch.no_grad()
def diffusers_states(scheduler, model, x: torch.Tensor, steps: int):
    """diffusers' own loop: scheduler.set_timesteps(steps), then one scheduler.step per timestep
    on model(x_t, t) (the output its prediction_type names), from the sigma-view x at the first
    level. Yields each state in the sigma view, x_t sqrt(1 + sigma^2), to compare with the
    course's samplers on bridge.levels(scheduler, steps)."""
    scheduler.set_timesteps(steps)
    scale = (1 + scheduler.sigmas.double() ** 2).sqrt()
    x_t = (x / scale[0]).to(x.dtype)
    for i, t in enumerate(scheduler.timesteps):
        out = model(scheduler.scale_model_input(x_t, t), t)
        x_t = scheduler.step(out, t, x_t).prev_sample
        yield (x_t * scale[i + 1]).to(x.dtype)


# --- the course's text-to-image model (data/sd_course) --------------------------------------
def _guided_unet(pipe, prompts: list[str], w: float):
    from course_lib import guidance, sd_loop

    embeds = sd_loop.encode_prompt(pipe.tokenizer, pipe.text_encoder, prompts,
                                   [""] * len(prompts))
    empty, text = embeds.chunk(2)
    return embeds, guidance.guided(bridge.UNetDenoiser(pipe.unet, pipe.scheduler), text, w,
                                   empty)


@torch.no_grad()
def pipeline_states(pipe, prompts: list[str], steps: int, w: float = 3.0, seed: int = 0,
                    spacing: str = "trailing") -> tuple[torch.Tensor, torch.Tensor]:
    """The same guided run twice from the same noise, every state in the sigma view:
    diffusers' DPMSolverMultistepScheduler (diffusers_dpm on the pipeline's schedule with
    `spacing`) stepped by notebook 08's guided_step, and the course's dpm_solver_samples on the
    guided U-Net through bridge.UNetDenoiser, on bridge.levels of that scheduler. Returns
    (diffusers' states, the course's), each (steps, B, C, h, w)."""
    from course_lib import sd_loop

    sched = diffusers_dpm(pipe.scheduler, timestep_spacing=spacing)
    embeds, den = _guided_unet(pipe, prompts, w)
    sigmas = bridge.levels(sched, steps)
    c = pipe.unet.config
    noise = torch.randn(len(prompts), c.in_channels, c.sample_size, c.sample_size,
                        generator=torch.Generator().manual_seed(seed))
    x = (sigmas[0] * noise).to(embeds.device)

    def model_step(x_t, t):  # notebook 08's guided_step, one scheduler step
        return sd_loop.guided_step(pipe.unet, sched, x_t, t, embeds, w)

    sched.set_timesteps(steps)
    scale = (1 + sigmas.double() ** 2).sqrt()
    x_t, theirs = x / scale[0], []
    for i, t in enumerate(sched.timesteps):
        x_t = model_step(x_t, t)
        theirs.append((x_t * scale[i + 1]).float())
    ours = list(dpm_solver_samples(den, sigmas.to(x.device), x))
    return torch.stack(theirs).cpu(), torch.stack(ours).float().cpu()


@torch.no_grad()
def course_latents(pipe, prompts: list[str], sampler: str, steps: int, w: float = 3.0,
                   seed: int = 0, spacing: str = "trailing") -> torch.Tensor:
    """Latents (B, C, h, w) from one of SAMPLERS driving the pipeline's U-Net (guided, the
    empty prompt as unconditional input) on the sigmas of the pipeline's own timesteps with
    `spacing` ("trailing": from t = 999 down, as notebook 09 compares samplers), then 0. The
    same seed gives every sampler the same noise."""
    embeds, den = _guided_unet(pipe, prompts, w)
    twin = type(pipe.scheduler).from_config({**pipe.scheduler.config,
                                             "timestep_spacing": spacing})
    sigmas = bridge.levels(twin, steps).to(embeds.device)
    c = pipe.unet.config
    noise = torch.randn(len(prompts), c.in_channels, c.sample_size, c.sample_size,
                        generator=torch.Generator().manual_seed(seed)).to(embeds.device)
    return run(sampler, den, sigmas, sigmas[0] * noise).to(embeds.dtype)
