"""Scoring a set of generated images with the course's examiners at once: FID and KID through
the feature encoder, CLIP score through the tiny CLIP, prompt match through the judge.

Used by notebook 09's experiments (guidance, steps, best-of-n) and by bench.metrics, so that
both report the same numbers in the same way.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from course_lib import artefacts, clip, diffusion, features, metrics, shapes
from course_lib.judge import Judge, match_rate


@dataclass
class Examiners:
    feature_net: features.FeatureNet
    clip: clip.TinyCLIP
    vocab: dict[str, int]
    judge: Judge


def load_examiners() -> Examiners:
    """The three shipped examiners: data/features.pt, data/clip.pt, data/shapes_judge.pt."""
    feature_net = artefacts.load("features")[0]
    tiny_clip, config, _ = artefacts.load("clip")
    judge = artefacts.load("judge")[0]
    return Examiners(feature_net, tiny_clip, config.vocab, judge)


def reference_features(ex: Examiners, n: int, seed: int = 100) -> torch.Tensor:
    """Features (n, d) of n real training-like images: the set FID and KID compare against."""
    return metrics.extract(ex.feature_net.features, shapes.make_dataset(n, seed=seed)[0])


@torch.no_grad()
def scorecard(ex: Examiners, images: torch.Tensor, captions: list[str],
              reference: torch.Tensor, kid_subsets: int = 50) -> dict[str, float]:
    """FID and KID of the images against the reference features, their mean CLIP score
    against their captions and the judge's all-three-right match rate. Images in [-1, 1]."""
    feats = metrics.extract(ex.feature_net.features, images)
    kid_mean, kid_std = metrics.kid(feats, reference, kid_subsets, min(len(feats), 1000))
    attrs = [shapes.parse_caption(c) for c in captions]
    return {"FID": metrics.fid(feats, reference).item(), "KID": kid_mean.item(),
            "KID std": kid_std.item(),
            "CLIP": clip.score(ex.clip, ex.vocab, images, captions).mean().item(),
            "match": match_rate(ex.judge, images, attrs)["all"]}


SAMPLERS = ("DDIM", "DPM-Solver++", "GE (gam=2)")


def dpm_solver_scheduler():
    """diffusers' DPM-Solver++ (2nd order, multistep) on notebook 07's noise levels: its 1000
    training levels are the course's log-linear sigmas (alpha_bar = 1 / (1 + sigma^2)) and
    use_exponential_sigmas makes set_timesteps(n) visit diffusion.sigma_schedule(0.01, 10, n),
    then 0: the very levels of the course's DDIM and GE samplers."""
    from diffusers import DPMSolverMultistepScheduler

    course = diffusion.COURSE
    sigmas = diffusion.sigma_schedule(course.sigma_min, course.sigma_max, 1000).flip(0).double()
    alpha_bar = 1 / (1 + sigmas**2)
    betas = 1 - alpha_bar / torch.cat([torch.ones(1, dtype=alpha_bar.dtype), alpha_bar[:-1]])
    return DPMSolverMultistepScheduler(num_train_timesteps=1000, trained_betas=betas.tolist(),
                                       algorithm_type="dpmsolver++", solver_order=2,
                                       use_exponential_sigmas=True, final_sigmas_type="zero")


@torch.no_grad()
def scheduler_sample(scheduler, denoiser, x: torch.Tensor, steps: int) -> torch.Tensor:
    """Run a diffusers scheduler with a course denoiser(x_sigma, sigma): the scheduler works
    with x_t = x_sigma / sqrt(1 + sigma^2) (DDPM's scale), the denoiser with x_sigma.
    x starts at the scheduler's first sigma; returns x at sigma = 0."""
    scheduler.set_timesteps(steps)
    x_t = x / (1 + scheduler.sigmas[0] ** 2).sqrt()
    for i, t in enumerate(scheduler.timesteps):
        sigma = scheduler.sigmas[i]
        eps = denoiser(x_t * (1 + sigma**2).sqrt(), sigma)
        x_t = scheduler.step(eps, t, x_t).prev_sample
    return x_t


def text2img_generator():
    """Notebook 07's text-to-image model as generate(prompts, w, steps, sampler, seed) ->
    images (B, 3, 32, 32) in [-1, 1]. Samplers: the course's DDIM (gam = 1) and
    gradient-estimation (gam = 2) samplers, and diffusers' DPM-Solver++, all on the same
    noise levels diffusion.sigma_schedule(0.01, 10, steps) and 0, from the same noise."""
    from course_lib import guidance, samplers, text, vae

    autoencoder, vae_config, _ = artefacts.load("vae")
    model, config, _ = artefacts.load("text2img")
    vocab = config.vocab

    @torch.no_grad()
    def generate(prompts: list[str], w: float = 3.0, steps: int = 20,
                 sampler: str = "DDIM", seed: int = 0) -> torch.Tensor:
        if sampler not in SAMPLERS:
            raise ValueError(f"unknown sampler {sampler!r}; choose one of {SAMPLERS}")
        ids, mask = text.tokenize_batch(prompts, vocab)
        den = guidance.guided(model, (ids, mask), w, uncond=text.tokenize_batch([""], vocab))
        sigmas = diffusion.COURSE.levels(steps)
        gen = torch.Generator().manual_seed(seed)
        x = sigmas[0] * torch.randn(len(prompts), 4, 8, 8, generator=gen)
        if sampler == "DPM-Solver++":
            z = scheduler_sample(dpm_solver_scheduler(), den, x, steps)
        else:
            gam = 2.0 if sampler.startswith("GE") else 1.0
            z = list(samplers.samples(den, sigmas, x, gam=gam, generator=gen))[-1]
        return vae.decode_latents(autoencoder.decoder, z, vae_config.scale)
    return generate


@torch.no_grad()
def sd_generate(pipe, prompts: list[str], sampler: str, steps: int, w: float = 3.0,
                seed: int = 0, batch_size: int = 200) -> torch.Tensor:
    """Images (B, 3, H, W) in [-1, 1] on the CPU from a diffusers pipeline (notebook 08's
    course model), by diffusers' DDIM or DPM-Solver++ (2nd order, multistep) scheduler
    through sd_loop.generate_latents, or by the course's gradient-estimation sampler driving
    the pipeline's U-Net through bridge.UNetDenoiser. All three visit the same timesteps,
    spaced "trailing" (from t = 999 down): the pipeline's "leading" spacing starts below the
    noisiest level when steps are few, and DPM-Solver++ would space them differently from
    DDIM. The same seed gives all three the same starting noise. The pipeline's own
    scheduler is restored afterwards."""
    from diffusers import DDIMScheduler, DPMSolverMultistepScheduler

    from course_lib import sd_loop

    if sampler not in SAMPLERS:
        raise ValueError(f"unknown sampler {sampler!r}; choose one of {SAMPLERS}")
    original = pipe.scheduler
    config = {**original.config, "timestep_spacing": "trailing"}
    pipe.scheduler = (DPMSolverMultistepScheduler.from_config(config, solver_order=2,
                                                              algorithm_type="dpmsolver++")
                      if sampler == "DPM-Solver++" else DDIMScheduler.from_config(config))
    gen = torch.Generator().manual_seed(seed)
    out = []
    try:
        for i in range(0, len(prompts), batch_size):
            batch = prompts[i:i + batch_size]
            if sampler == "GE (gam=2)":  # same noise draw as the others, same generator
                lat = sd_loop.course_sampler_latents(pipe, batch, steps, w, gam=2.0,
                                                     generator=gen)
            else:
                lat = sd_loop.generate_latents(pipe, batch, steps=steps, w=w, generator=gen)
            out.append(sd_loop.decode(pipe.vae, lat).float().cpu() * 2 - 1)
    finally:
        pipe.scheduler = original
    return torch.cat(out)
