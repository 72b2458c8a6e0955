"""Latent diffusion with text: the U-Net of notebook 06 on VAE latents, steered by a caption
through cross-attention, with classifier-free guidance against the empty prompt.

Introduced in notebook 07. The denoiser contract is unchanged: model(z, sigma, cond) with
cond = (ids, mask) from text.tokenize_batch; z are VAE latents times vae scale (unit variance).
"""
from __future__ import annotations

import torch
from torch import nn
from tqdm.auto import tqdm

from course_lib import guidance, samplers, spiral, text, unet, vae


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


def guided_denoiser(model: TextToImage, ids: torch.Tensor, mask: torch.Tensor,
                    empty: tuple[torch.Tensor, torch.Tensor], w: float):
    """denoiser(z, sigma) for the samplers: one call on [z, z] with [empty prompt, prompt],
    combined as eps_u + w (eps_c - eps_u) (notebook 05)."""
    both_ids = torch.cat([empty[0].expand_as(ids), ids])
    both_mask = torch.cat([empty[1].expand_as(mask), mask])

    def denoise(z, sigma):
        sigma = torch.as_tensor(sigma, dtype=z.dtype).expand(z.shape[0])
        eps = model(torch.cat([z, z]), torch.cat([sigma, sigma]), (both_ids, both_mask))
        eps_uncond, eps_cond = eps.chunk(2)
        return guidance.cfg_eps(eps_uncond, eps_cond, w)
    return denoise


@torch.no_grad()
def generate(model: TextToImage, autoencoder: vae.VAE, scale: float, vocab: dict[str, int],
             prompts: list[str], w: float = 3.0, steps: int = 25, seed: int = 0,
             gam: float = 1.0) -> torch.Tensor:
    """Images (B, 3, 32, 32) for the prompts: guided sampling in latent space, then decode."""
    ids, mask = text.tokenize_batch(prompts, vocab)
    empty = text.tokenize_batch([""], vocab)
    sigmas = torch.cat([spiral.sigma_schedule(0.01, 10.0, steps), torch.zeros(1)])
    den = guided_denoiser(model, ids, mask, empty, w)
    z = samplers.sample(den, sigmas, len(prompts), dim=(4, 8, 8), seed=seed, gam=gam)
    return vae.decode_latents(autoencoder.decoder, z, scale)


def train_text_to_image(model: TextToImage, latents: torch.Tensor, captions: list[str],
                        vocab: dict[str, int], steps: int, batch_size: int = 64,
                        lr: float = 1e-3, p_empty: float = 0.1, seed: int = 0,
                        progress: bool = True) -> list[float]:
    """notebook 01's loss on latents, each caption replaced by "" with probability p_empty."""
    gen = torch.Generator().manual_seed(seed)
    ids_all, mask_all = text.tokenize_batch(captions, vocab)
    empty_ids, empty_mask = text.tokenize_batch([""], vocab)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=steps)
    losses = []
    for _ in tqdm(range(steps), desc="text-to-image", disable=not progress):
        idx = torch.randint(len(latents), (batch_size,), generator=gen)
        drop = (torch.rand(batch_size, generator=gen) < p_empty)[:, None]
        ids = torch.where(drop, empty_ids, ids_all[idx])
        mask = torch.where(drop, empty_mask, mask_all[idx])
        sigma = spiral.sample_sigmas(batch_size, 0.01, 10.0, gen)
        eps = torch.randn(latents[idx].shape, generator=gen)
        loss = spiral.weighted_denoising_loss(lambda z, s, c=(ids, mask): model(z, s, c),
                                              latents[idx], sigma, eps, sigma_data=1.0)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        losses.append(loss.item())
    return losses
