"""Stable Diffusion by hand: StableDiffusionPipeline's phases written out over its components.

Introduced in notebook 08. Each function is one phase of diffusers' pipeline (encode the
prompt, prepare latents, the guided denoising loop, decode), small enough to read, and the
tests hold them to the pipeline's own output exactly. Also: img2img and inpainting written
on the same components, and the course's sigma-view samplers driving a diffusers U-Net.
"""
from __future__ import annotations

import torch

from course_lib import ddim, samplers


@torch.no_grad()
def encode_prompt(tokenizer, text_encoder, prompts: list[str],
                  negative_prompts: list[str]) -> torch.Tensor:
    """(2B, 77, D): the negative (or empty) prompts' embeddings first, then the prompts'.
    Every text is padded to the tokenizer's model_max_length (77 for CLIP) and cut there."""
    def embed(texts):
        ids = tokenizer(texts, padding="max_length", max_length=tokenizer.model_max_length,
                        truncation=True, return_tensors="pt").input_ids
        return text_encoder(ids.to(text_encoder.device))[0]
    return torch.cat([embed(negative_prompts), embed(prompts)])


@torch.no_grad()
def guided_step(unet, scheduler, latents: torch.Tensor, t, embeds: torch.Tensor,
                w: float) -> torch.Tensor:
    """One denoising step: the U-Net on [latents, latents] with [negative, prompt] embeddings,
    eps = eps_u + w (eps_c - eps_u), then scheduler.step to the next latents."""
    latent_in = scheduler.scale_model_input(torch.cat([latents] * 2), t)
    eps_uncond, eps_text = unet(latent_in, t, encoder_hidden_states=embeds).sample.chunk(2)
    eps = eps_uncond + w * (eps_text - eps_uncond)
    return scheduler.step(eps, t, latents).prev_sample


@torch.no_grad()
def generate_latents(pipe, prompts: list[str], negative_prompts: list[str] | None = None,
                     steps: int = 25, w: float = 7.5, generator=None,
                     height: int | None = None, width: int | None = None) -> torch.Tensor:
    """The pipeline's loop in its numbered phases; returns the final latents (B, 4, h, w)."""
    # 1. encode the prompt and the negative prompt ("" when there is none)
    negative_prompts = negative_prompts or [""] * len(prompts)
    embeds = encode_prompt(pipe.tokenizer, pipe.text_encoder, prompts, negative_prompts)
    # 2. timesteps
    pipe.scheduler.set_timesteps(steps, device=embeds.device)
    # 3. initial latents: unit Gaussian noise times the scheduler's starting scale
    size = pipe.unet.config.sample_size * pipe.vae_scale_factor
    shape = (len(prompts), pipe.unet.config.in_channels,
             (height or size) // pipe.vae_scale_factor, (width or size) // pipe.vae_scale_factor)
    latents = torch.randn(shape, generator=generator, dtype=embeds.dtype).to(embeds.device)
    latents = latents * pipe.scheduler.init_noise_sigma
    # 4. the guided denoising loop
    for t in pipe.scheduler.timesteps:
        latents = guided_step(pipe.unet, pipe.scheduler, latents, t, embeds, w)
    return latents


@torch.no_grad()
def decode(vae, latents: torch.Tensor) -> torch.Tensor:
    """5. latents / scaling_factor through the VAE decoder; images (B, 3, H, W) in [0, 1]."""
    images = vae.decode(latents / vae.config.scaling_factor).sample
    return (images / 2 + 0.5).clamp(0, 1)


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


def sigma_view_denoiser(unet, alpha_bar: torch.Tensor, timesteps: torch.Tensor,
                        embeds: torch.Tensor, w: float, prediction: str = "epsilon"):
    """A diffusers U-Net as a course denoiser(x_sigma, sigma) on the sigma levels of
    `timesteps`, with guidance, so samplers.samples (any gam, mu) can drive it. A U-Net
    trained for v (prediction="v_prediction") is converted:
    eps = (v + sigma x_t) / sqrt(1 + sigma^2)."""
    sigmas = ddim.ddim_sigmas(alpha_bar, timesteps)[:-1]

    @torch.no_grad()
    def denoiser(x, sigma):
        t = timesteps[(sigmas - sigma).abs().argmin()]           # the timestep of this sigma
        x_t = (x / torch.sqrt(1 + sigma**2)).to(unet.device, unet.dtype)  # DDPM's x_t
        eps_u, eps_c = unet(torch.cat([x_t] * 2), t, encoder_hidden_states=embeds
                            ).sample.chunk(2)
        out = (eps_u + w * (eps_c - eps_u)).to(x)  # the sampler runs in float32 on the CPU
        if prediction == "v_prediction":
            out = (out + sigma * x_t.to(x)) / torch.sqrt(1 + sigma**2)
        return out
    return denoiser


@torch.no_grad()
def course_sampler_latents(pipe, prompts: list[str], steps: int = 10, w: float = 7.5,
                           gam: float = 2.0, seed: int = 0) -> torch.Tensor:
    """Latents from notebook 04's generic sampler (gam = 2: gradient estimation) driving the
    pipeline's U-Net on its own noise schedule; returns DDPM-scale latents like the others."""
    alpha_bar = pipe.scheduler.alphas_cumprod
    timesteps = ddim.ddim_timesteps(len(alpha_bar), steps) + 1        # SD's steps_offset
    timesteps = timesteps.clamp(max=len(alpha_bar) - 1)
    embeds = encode_prompt(pipe.tokenizer, pipe.text_encoder, prompts, [""] * len(prompts))
    den = sigma_view_denoiser(pipe.unet, alpha_bar, timesteps, embeds, w,
                              pipe.scheduler.config.prediction_type)
    size = pipe.unet.config.sample_size
    x = samplers.sample(den, ddim.ddim_sigmas(alpha_bar, timesteps), len(prompts),
                        dim=(pipe.unet.config.in_channels, size, size), gam=gam, seed=seed)
    return x.to(embeds.device, embeds.dtype)  # at sigma = 0, x_sigma and x_t coincide
