"""A small variational autoencoder: 32x32x3 images <-> 8x8x4 latents.

Introduced in notebook 07. The encoder gives a mean and a log-variance per latent value, the
reparameterisation trick samples from them, the decoder maps back; the loss is
reconstruction + beta * KL. Latent diffusion then runs the same U-Net on latents scaled by
`scale` to unit variance (Stable Diffusion's `vae.config.scaling_factor`).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from course_lib.config import Config

# The notebook's exercises: each reference lives once, in its exercise file.
from course_lib.exercises.nb07.decode_latents import decode_latents
from course_lib.exercises.nb07.kl_divergence import kl_divergence
from course_lib.exercises.nb07.reparameterize import reparameterize
from course_lib.fit import fit

__all__ = ["VAE", "VAEConfig", "build", "decode_latents", "kl_divergence", "latent_scale",
           "reparameterize", "train_vae"]


def _block(c_in, c_out):
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3, padding=1), nn.GroupNorm(8, c_out), nn.SiLU())


class VAE(nn.Module):
    """Encoder 32 -> 16 -> 8 (channels 32, 64) to mean and logvar (4 channels each);
    decoder mirrors it with nearest-neighbour upsampling."""

    def __init__(self, width: int = 32, latent_channels: int = 4):
        super().__init__()
        w = width
        self.encoder = nn.Sequential(
            _block(3, w), nn.Conv2d(w, w, 4, stride=2, padding=1), nn.SiLU(),          # 16x16
            _block(w, 2 * w), nn.Conv2d(2 * w, 2 * w, 4, stride=2, padding=1), nn.SiLU(),  # 8x8
            _block(2 * w, 2 * w), nn.Conv2d(2 * w, 2 * latent_channels, 1))
        self.decoder = nn.Sequential(
            nn.Conv2d(latent_channels, 2 * w, 3, padding=1), _block(2 * w, 2 * w),
            nn.Upsample(scale_factor=2), _block(2 * w, w),                              # 16x16
            nn.Upsample(scale_factor=2), _block(w, w), nn.Conv2d(w, 3, 3, padding=1))   # 32x32

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, 3, 32, 32) -> mean, logvar, each (B, 4, 8, 8)."""
        mean, logvar = self.encoder(x).chunk(2, dim=1)
        return mean, logvar.clamp(-30, 20)

    def forward(self, x: torch.Tensor, generator=None):
        mean, logvar = self.encode(x)
        z = reparameterize(mean, logvar, torch.randn(mean.shape, generator=generator))
        return self.decoder(z), mean, logvar


@dataclass(frozen=True)
class VAEConfig(Config):
    """Notebook 07's VAE and its run (saved with data/vae.pt); scale is set after training."""
    width: int = 32
    n_images: int = 20_000
    steps: int = 1500
    batch_size: int = 64
    lr: float = 2e-3
    beta: float = 1e-3
    seed: int = 0
    scale: float | None = None  # 1 / std of the latents, from latent_scale


def build(c: VAEConfig | dict) -> VAE:
    """Notebook 07's VAE from its config (as saved with data/vae.pt)."""
    return VAE(VAEConfig.from_dict(c).width)


def train_vae(vae: VAE, images: torch.Tensor, steps: int, batch_size: int = 64, lr: float = 1e-3,
              beta: float = 1e-4, seed: int = 0, progress: bool = True) -> list[float]:
    """Minimise MSE(recon, x) + beta * KL / (number of pixels); returns the losses."""
    def loss_on_batch(gen: torch.Generator) -> torch.Tensor:
        x = images[torch.randint(len(images), (batch_size,), generator=gen)]
        recon, mean, logvar = vae(x, gen)
        return F.mse_loss(recon, x) + beta * kl_divergence(mean, logvar) / x[0].numel()

    return fit(vae, loss_on_batch, steps, lr, seed=seed, desc="VAE", progress=progress)


@torch.no_grad()
def latent_scale(vae: VAE, images: torch.Tensor) -> float:
    """1 / std of the latent means over a set of images: makes the latents unit variance."""
    return 1.0 / vae.encode(images)[0].std().item()
