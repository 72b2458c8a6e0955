"""Stable Diffusion by hand: StableDiffusionPipeline's phases written out over its components.

Introduced in notebook 08. Each function is one phase of diffusers' pipeline (encode the
prompt, prepare latents, the guided denoising loop, decode), small enough to read, and the
tests hold them to the pipeline's own output exactly. Also: img2img and inpainting written
on the same components, and the course's sigma-view samplers driving a diffusers U-Net.
"""
from __future__ import annotations

import torch

from course_lib import bridge, guidance, samplers

# The notebook's exercises: each reference lives once, in its exercise file.
from course_lib.exercises.nb08.decode import decode
from course_lib.exercises.nb08.encode_prompt import encode_prompt
from course_lib.exercises.nb08.generate_latents import generate_latents
from course_lib.exercises.nb08.guided_step import guided_step

__all__ = ["course_sampler_latents", "decode", "encode_image", "encode_prompt",
           "generate_latents", "guided_step", "img2img_latents"]


@torch.no_grad()
def encode_image(vae, images: torch.Tensor, generator=None) -> torch.Tensor:
    """Images in [0, 1] -> scaled latents, a sample of the VAE's posterior (as img2img does)."""
    dist = vae.encode(images * 2 - 1).latent_dist
    return dist.sample(generator) * vae.config.scaling_factor


@torch.no_grad()
def img2img_latents(pipe, init_latents: torch.Tensor, prompts: list[str], strength: float,
                    steps: int = 25, w: float = 7.5, generator=None,
                    mask: torch.Tensor | None = None) -> torch.Tensor:
    """Start part-way down the schedule from the noised init latents instead of pure noise:
    strength 1 = ignore the image, 0 = keep it. With a mask (1 = repaint, 0 = keep, at latent
    resolution), the kept region is reset to the noised original after every step."""
    embeds = encode_prompt(pipe.tokenizer, pipe.text_encoder, prompts, [""] * len(prompts))
    pipe.scheduler.set_timesteps(steps, device=embeds.device)
    n_run = min(int(steps * strength), steps)
    timesteps = pipe.scheduler.timesteps[steps - n_run:]
    noise = torch.randn(init_latents.shape, generator=generator, dtype=init_latents.dtype)
    noise = noise.to(init_latents.device)  # drawn on the CPU, like diffusers, then moved
    latents = pipe.scheduler.add_noise(init_latents, noise, timesteps[:1])
    for i, t in enumerate(timesteps):
        latents = guided_step(pipe.unet, pipe.scheduler, latents, t, embeds, w)
        if mask is not None:
            keep = init_latents if i == len(timesteps) - 1 else pipe.scheduler.add_noise(
                init_latents, noise, timesteps[i + 1:i + 2])
            latents = mask * latents + (1 - mask) * keep
    return latents


@torch.no_grad()
def course_sampler_latents(pipe, prompts: list[str], steps: int = 10, w: float = 7.5,
                           gam: float = 2.0, seed: int = 0,
                           generator: torch.Generator | None = None) -> torch.Tensor:
    """Latents from notebook 04's generic sampler (gam = 2: gradient estimation) driving the
    pipeline's U-Net through the one bridge (bridge.UNetDenoiser), guided towards the prompts
    with the empty prompt as unconditional input, on the very sigmas the pipeline's scheduler
    visits in `steps` steps. Returns DDPM-scale latents like the pipeline's loop."""
    gen = generator if generator is not None else torch.Generator().manual_seed(seed)
    embeds = encode_prompt(pipe.tokenizer, pipe.text_encoder, prompts, [""] * len(prompts))
    empty, text = embeds.chunk(2)
    den = guidance.guided(bridge.UNetDenoiser(pipe.unet, pipe.scheduler), text, w, empty)
    sigmas = bridge.levels(pipe.scheduler, steps)
    size = pipe.unet.config.sample_size
    noise = sigmas[0] * torch.randn(len(prompts), pipe.unet.config.in_channels, size, size,
                                    generator=gen)                   # drawn on the CPU
    x = list(samplers.samples(den, sigmas, noise, gam=gam, generator=gen))[-1]
    return x.to(embeds.device, embeds.dtype)  # at sigma = 0, x_sigma and x_t coincide
