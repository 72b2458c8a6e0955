"""SDXL by hand: StableDiffusionXLPipeline's phases written out over its components.

Introduced in notebook 08, after SD 1.x by hand (course_lib/sd_loop.py). What SDXL adds: two
text encoders whose penultimate hidden states stand side by side, the second encoder's pooled
and projected embedding, and six numbers of micro-conditioning (original size, crop, target
size); the last two enter the U-Net as `added_cond_kwargs`. The tests hold every phase to the
pipeline's own output on the course's SDXL-shaped model (course_lib/sdxl_model.py).
"""
from __future__ import annotations

import torch

# The notebook's exercises: each reference lives once, in its exercise file.
from course_lib.exercises.nb08.sdxl_encode_prompt import sdxl_encode_prompt
from course_lib.exercises.nb08.sdxl_time_ids import sdxl_time_ids


def embed_xl(tokenizers, text_encoders, texts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
    """B texts -> (states (B, 77, D1 + D2), pooled (B, P)): each encoder's penultimate hidden
    state (the input of its last layer), side by side along the features, and the last
    encoder's pooled output after its projection. Not under no_grad: training uses it too."""
    states = []
    for tokenizer, encoder in zip(tokenizers, text_encoders):
        ids = tokenizer(texts, padding="max_length", max_length=tokenizer.model_max_length,
                        truncation=True, return_tensors="pt").input_ids
        out = encoder(ids.to(encoder.device), output_hidden_states=True)
        states.append(out.hidden_states[-2])              # (B, 77, D_i), not the last layer
    return torch.cat(states, dim=-1), out.text_embeds     # pooled: CLIPTextModelWithProjection


@torch.no_grad()
def encode_prompt_xl(tokenizers, text_encoders, prompts: list[str],
                     negative_prompts: list[str] | None = None,
                     zeros_for_empty: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """(embeds (2B, 77, D1 + D2), pooled (2B, P)), the negative prompts' half first: notebook
    08's sdxl_encode_prompt. With no negative prompts the unconditional half is all zeros when
    zeros_for_empty (the pipeline's config.force_zeros_for_empty_prompt, True for SDXL), else
    the embedding of ""."""
    if negative_prompts is None and not zeros_for_empty:
        negative_prompts = [""] * len(prompts)
    return sdxl_encode_prompt(tokenizers, text_encoders, prompts, negative_prompts)


def add_time_ids(original_size: tuple[int, int], crop_top_left: tuple[int, int],
                 target_size: tuple[int, int], n: int, dtype: torch.dtype = torch.float32,
                 device: torch.device | str | None = None) -> torch.Tensor:
    """SDXL's micro-conditioning for n U-Net inputs, (n, 6) (notebook 08's sdxl_time_ids,
    without the guidance doubling): (height, width) of the training image before it was
    resized, the (top, left) corner of the crop taken from it, and the (height, width) asked
    for; the same row for every input, as the pipeline makes it."""
    return sdxl_time_ids(original_size, crop_top_left, target_size, n, guided=False,
                         dtype=dtype, device=device)


@torch.no_grad()
def guided_step_xl(unet, scheduler, latents: torch.Tensor, t, embeds: torch.Tensor,
                   pooled: torch.Tensor, time_ids: torch.Tensor, w: float) -> torch.Tensor:
    """One classifier-free guided step at timestep t, as sd_loop.guided_step, with SDXL's added
    conditions: latents (B, C, h, w); embeds, pooled, time_ids for the 2B inputs (unconditional
    half first). Returns the next latents."""
    x_in = scheduler.scale_model_input(torch.cat([latents] * 2), t)
    added = {"text_embeds": pooled, "time_ids": time_ids}   # the U-Net's "text_time" inputs
    out = unet(x_in, t, encoder_hidden_states=embeds, added_cond_kwargs=added).sample
    eps_uncond, eps_text = out.chunk(2)
    eps = eps_uncond + w * (eps_text - eps_uncond)
    return scheduler.step(eps, t, latents).prev_sample


@torch.no_grad()
def generate_latents_xl(pipe, prompts: list[str], negative_prompts: list[str] | None = None,
                        steps: int = 25, w: float = 5.0, generator=None,
                        original_size: tuple[int, int] | None = None,
                        crop_top_left: tuple[int, int] = (0, 0),
                        target_size: tuple[int, int] | None = None) -> torch.Tensor:
    """StableDiffusionXLPipeline's loop by hand for B prompts: the final latents (B, C, h, w),
    as the pipeline makes them (output_type="latent") from the same arguments and generator.
    Sizes default to the model's own image size (1024 for SDXL, 32 for the course model)."""
    embeds, pooled = encode_prompt_xl((pipe.tokenizer, pipe.tokenizer_2),
                                      (pipe.text_encoder, pipe.text_encoder_2), prompts,
                                      negative_prompts, pipe.config.force_zeros_for_empty_prompt)
    size = pipe.unet.config.sample_size                        # latent height and width
    pixels = (size * pipe.vae_scale_factor,) * 2               # the image's, in pixels
    time_ids = sdxl_time_ids(original_size or pixels, crop_top_left, target_size or pixels,
                             len(prompts), guided=True, dtype=embeds.dtype, device=embeds.device)
    pipe.scheduler.set_timesteps(steps, device=embeds.device)
    shape = (len(prompts), pipe.unet.config.in_channels, size, size)
    latents = torch.randn(shape, generator=generator, dtype=embeds.dtype).to(embeds.device)
    latents = latents * pipe.scheduler.init_noise_sigma
    for t in pipe.scheduler.timesteps:
        latents = guided_step_xl(pipe.unet, pipe.scheduler, latents, t, embeds, pooled,
                                 time_ids, w)
    return latents
