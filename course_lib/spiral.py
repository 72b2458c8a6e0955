"""The 2D spiral toy: data, noise levels, noising, the MLP denoiser and its training loop.

Introduced in notebook 01. Convention for the whole course: x_sigma = x0 + sigma * eps, and
every model is `denoiser(x, sigma, cond=None) -> eps_hat`. This is not a general trainer:
it is the smallest loop that makes a 2D denoiser good enough to sample from.
"""
from __future__ import annotations

import math

import torch
from torch import nn
from tqdm.auto import tqdm

# The notebook's exercises: each reference lives once, in its exercise file.
from course_lib.exercises.nb01.add_noise import add_noise
from course_lib.exercises.nb01.denoising_loss import denoising_loss
from course_lib.exercises.nb01.predict_x0 import predict_x0
from course_lib.exercises.nb01.sigma_embedding import sigma_embedding
from course_lib.exercises.nb01.sigma_schedule import sigma_schedule

__all__ = ["add_noise", "denoising_loss", "load_checkpoint", "make_spiral", "predict_x0",
           "sample_sigmas", "sigma_embedding", "sigma_schedule", "SpiralDenoiser",
           "train_denoiser", "weighted_denoising_loss"]


def make_spiral(n: int = 256, turns: float = 1.75) -> torch.Tensor:
    """n points evenly spaced (in angle) along a spiral of radius <= 1. Returns (n, 2)."""
    theta = torch.linspace(0.5 * math.pi, (0.25 + 2 * turns) * math.pi, n)
    r = theta / theta.max()
    return torch.stack([r * torch.cos(theta), r * torch.sin(theta)], dim=1)


def weighted_denoising_loss(denoiser, x0: torch.Tensor, sigma: torch.Tensor, eps: torch.Tensor,
                            sigma_data: float | None = None) -> torch.Tensor:
    """denoising_loss, or with sigma_data given, each sample's squared error weighted by
    1 + sigma^2 / sigma_data^2 (EDM's weighting in eps terms: every noise level then counts
    alike in terms of the error of x0_hat = x - sigma * eps_hat). Used for images (06, 07)."""
    if sigma_data is None:
        return denoising_loss(denoiser, x0, sigma, eps)
    eps_hat = denoiser(add_noise(x0, sigma, eps), sigma)
    per_sample = ((eps_hat - eps) ** 2).flatten(1).mean(1)                # (B,)
    return ((1 + sigma**2 / sigma_data**2) * per_sample).mean()


class SpiralDenoiser(nn.Module):
    """eps_theta(x, sigma): an MLP on [x / sqrt(1 + sigma^2), sigma_embedding(sigma)].

    Dividing by sqrt(1 + sigma^2) gives the network inputs of unit scale at every noise level
    (it is DDPM's x_t, notebook 02). Beyond the trained range [sigma_min, sigma_max] the
    embedding is clamped: there the data is invisible and all noise levels look alike.
    x: (B, 2), sigma: scalar or (B,) -> eps_hat: (B, 2).
    """

    def __init__(self, hidden: int = 128, depth: int = 3, emb_dim: int = 16,
                 sigma_min: float = 0.01, sigma_max: float = 10.0):
        super().__init__()
        self.emb_dim, self.sigma_min, self.sigma_max = emb_dim, sigma_min, sigma_max
        layers, width = [], 2 + emb_dim
        for _ in range(depth):
            layers += [nn.Linear(width, hidden), nn.SiLU()]
            width = hidden
        self.net = nn.Sequential(*layers, nn.Linear(width, 2))

    def forward(self, x: torch.Tensor, sigma, cond=None) -> torch.Tensor:
        sigma = torch.as_tensor(sigma, dtype=x.dtype, device=x.device).expand(x.shape[0])
        x_in = x / torch.sqrt(1 + sigma[:, None] ** 2)                      # (B, 2)
        emb = sigma_embedding(sigma.clamp(self.sigma_min, self.sigma_max), self.emb_dim)
        return self.net(torch.cat([x_in, emb], dim=1))


def sample_sigmas(batch: int, sigma_min: float, sigma_max: float, generator=None) -> torch.Tensor:
    """Training noise levels, log-uniform in [sigma_min, sigma_max]. Returns (batch,)."""
    u = torch.rand(batch, generator=generator)
    return torch.exp(math.log(sigma_min) + u * (math.log(sigma_max) - math.log(sigma_min)))


def train_denoiser(denoiser: nn.Module, data: torch.Tensor, steps: int, batch_size: int = 256,
                   lr: float = 3e-3, sigma_min: float = 0.01, sigma_max: float = 10.0,
                   seed: int = 0, progress: bool = True,
                   sigma_data: float | None = None) -> list[float]:
    """Adam on denoising_loss with fresh noise each step; cosine-decayed lr. Returns the losses.
    Works for any data tensor (B, *D); sigma_data switches on weighted_denoising_loss."""
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(denoiser.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=steps)
    losses = []
    denoiser.train()
    for _ in tqdm(range(steps), desc="training", disable=not progress):
        idx = torch.randint(len(data), (batch_size,), generator=gen)
        x0 = data[idx]                                               # (B, *D)
        sigma = sample_sigmas(batch_size, sigma_min, sigma_max, gen)  # (B,)
        eps = torch.randn(x0.shape, generator=gen)                    # (B, *D)
        loss = weighted_denoising_loss(denoiser, x0, sigma, eps, sigma_data)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        losses.append(loss.item())
    denoiser.eval()
    return losses


def load_checkpoint(path, cls: type[SpiralDenoiser] = SpiralDenoiser
                    ) -> tuple[SpiralDenoiser, dict, list[float]]:
    """Rebuild a SpiralDenoiser (or subclass) from a file written by runtime.save_model."""
    from course_lib.runtime import load_model

    return load_model(path, lambda c: cls(c["hidden"], c["depth"], c["emb_dim"],
                                          c["sigma_min"], c["sigma_max"]))
