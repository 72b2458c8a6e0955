"""Latent diffusion with text: the U-Net of notebook 06 on VAE latents, steered by a caption
through cross-attention, with classifier-free guidance against the empty prompt.

Introduced in notebook 07. The denoiser contract is unchanged: model(z, sigma, cond) with
cond = (ids, mask) from text.tokenize_batch; z are VAE latents times vae scale (unit variance).
"""
from __future__ import annotations

import torch
from torch import nn

from course_lib import diffusion, guidance, samplers, text, unet, vae


class TextToImage(nn.Module):
    """A text encoder and a latent U-Net that cross-attends to its output."""

    def __init__(self, vocab_size: int, dim: int = 64, base: int = 64):
        super().__init__()
        self.text = text.TextEncoder(vocab_size, dim)
        self.unet = unet.UNet(channels=4, base=base, mults=(1, 2), attn=(True, True),
                              context_dim=dim, sigma_data=1.0)  # scaled latents: unit std

    def forward(self, z: torch.Tensor, sigma, cond) -> torch.Tensor:
        ids, mask = cond
        return self.unet(z, sigma, (self.text(ids, mask), mask))


def build(c: dict) -> TextToImage:
    """Notebook 07's text-to-image model from its config (as saved with data/text2img.pt)."""
    return TextToImage(len(c["vocab"]), c["dim"], c["base"])


@torch.no_grad()
def generate(model: TextToImage, autoencoder: vae.VAE, scale: float, vocab: dict[str, int],
             prompts: list[str], w: float = 3.0, steps: int = 25, seed: int = 0,
             gam: float = 1.0) -> torch.Tensor:
    """Images (B, 3, 32, 32) for the prompts: guided sampling in latent space, then decode."""
    ids, mask = text.tokenize_batch(prompts, vocab)
    empty = text.tokenize_batch([""], vocab)
    sigmas = diffusion.COURSE.levels(steps)
    den = guidance.guided(model, (ids, mask), w, uncond=empty)  # the empty prompt: uncond
    z = samplers.sample(den, sigmas, len(prompts), dim=(4, 8, 8), seed=seed, gam=gam)
    return vae.decode_latents(autoencoder.decoder, z, scale)


def train_text_to_image(model: TextToImage, latents: torch.Tensor, captions: list[str],
                        vocab: dict[str, int], steps: int, batch_size: int = 64,
                        lr: float = 1e-3, p_empty: float = 0.1, seed: int = 0,
                        progress: bool = True) -> list[float]:
    """notebook 01's loss on latents, each caption replaced by "" with probability p_empty."""
    ids_all, mask_all = text.tokenize_batch(captions, vocab)
    empty_ids, empty_mask = text.tokenize_batch([""], vocab)

    def prompt_dropped(idx: torch.Tensor, gen: torch.Generator):
        drop = (torch.rand(len(idx), generator=gen) < p_empty)[:, None]
        return (torch.where(drop, empty_ids, ids_all[idx]),
                torch.where(drop, empty_mask, mask_all[idx]))

    return diffusion.train_denoiser(model, latents, steps, batch_size, lr, seed=seed,
                                    progress=progress, sigma_data=1.0,
                                    batch_cond=prompt_dropped)
