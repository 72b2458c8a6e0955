"""Latent diffusion with text: the U-Net of notebook 06 on VAE latents, steered by a caption
through cross-attention, with classifier-free guidance against the empty prompt.

Introduced in notebook 07. The denoiser contract is unchanged: model(z, sigma, cond) with
cond = (ids, mask) from text.tokenize_batch; z are VAE latents times vae scale (unit variance).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from course_lib import diffusion, guidance, samplers, text, unet, vae
from course_lib.config import Config

# The notebook's exercise: its reference lives once, in its exercise file.
from course_lib.exercises.nb07.t2i_train_step import t2i_train_step
from course_lib.runtime import progress_bar

__all__ = ["TextToImage", "TextToImageConfig", "build", "generate", "t2i_train_step",
           "train_text_to_image"]


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


@dataclass(frozen=True)
class TextToImageConfig(Config):
    """Notebook 07's text-to-image model and its run (saved with data/text2img.pt); vocab,
    the word -> id map of text.build_vocab, is set from the training captions."""
    dim: int = 64
    base: int = 64
    n_images: int = 20_000
    steps: int = 2000
    batch_size: int = 64
    lr: float = 1e-3
    p_empty: float = 0.1
    seed: int = 0
    vocab: dict[str, int] | None = None


def build(c: TextToImageConfig | dict) -> TextToImage:
    """Notebook 07's text-to-image model from its config (as saved with data/text2img.pt)."""
    c = TextToImageConfig.from_dict(c)
    return TextToImage(len(c.vocab), c.dim, c.base)


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


class _Encoded(nn.Module):
    """The frozen VAE of a training run whose latents were encoded and scaled once, up front:
    encode hands them back as they are (so the step's scale is 1)."""

    def encode(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return z, torch.zeros_like(z)


def train_text_to_image(model: TextToImage, latents: torch.Tensor, captions: list[str],
                        vocab: dict[str, int], steps: int, batch_size: int = 64,
                        lr: float = 1e-3, p_empty: float = 0.1, seed: int = 0,
                        progress: bool = True) -> list[float]:
    """Notebook 07's exercise t2i_train_step in a loop, on latents already scaled (encoded
    once, up front, rather than every step): each step draws batch_size rows (with
    replacement), then the step empties each caption with probability p_empty. Adam with a
    cosine-decayed learning rate, as course_lib.fit; returns the losses."""
    ids_all, mask_all = text.tokenize_batch(captions, vocab)
    empty = text.tokenize_batch([""], vocab)
    encoded = _Encoded()
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=steps)
    model.train()
    losses = []
    for _ in progress_bar(range(steps), desc="training", disable=not progress):
        idx = torch.randint(len(latents), (batch_size,), generator=gen)
        losses.append(t2i_train_step(model, encoded, latents[idx], (ids_all[idx], mask_all[idx]),
                                     empty, opt, 1.0, p_empty, diffusion.COURSE, gen))
        sched.step()
    model.eval()
    return losses


def shapes_latents(n_images: int, seed: int):
    """The shapes data set of n_images, encoded by the shipped VAE (data/vae.pt) and scaled,
    as notebooks 07 and 12 train on it: (latents (N, 4, 8, 8), captions, their vocabulary)."""
    from course_lib import artefacts, shapes

    autoencoder, vae_config, _ = artefacts.load("vae")
    images, captions, _ = shapes.make_dataset(n_images, seed=seed)
    with torch.no_grad():
        z = torch.cat([autoencoder.encode(b)[0] for b in images.split(1000)]) * vae_config.scale
    return z, captions, text.build_vocab(captions)
