"""The 2D spiral toy of notebook 01: the data and the MLP denoiser eps_theta(x, sigma).

The sigma-view core that notebook 01 builds (noising, levels, loss, training) lives in
course_lib.diffusion, since every later notebook uses it on images and latents too.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from course_lib.config import Config
from course_lib.diffusion import batch_sigma
from course_lib.exercises.nb01.sigma_embedding import sigma_embedding

__all__ = ["SpiralConfig", "SpiralDenoiser", "build", "make_spiral", "sigma_embedding"]


@dataclass(frozen=True)
class SpiralConfig(Config):
    """Notebook 01's denoiser and its training run (saved with data/spiral_mlp.pt).

    depth counts hidden layers. The loss first sits on a plateau, where the model knows only
    the blurred spiral, and drops once it learns the curve; with 3 layers a tight spiral
    leaves the plateau so late that samples end far off the curve. A 4th layer leaves it
    sooner (python -m course_lib.bench.spiral compares it with smalldiffusion's recipe)."""
    hidden: int = 128
    depth: int = 4
    emb_dim: int = 16
    n_points: int = 256
    steps: int = 10_000
    batch_size: int = 256
    lr: float = 3e-3
    sigma_min: float = 0.01
    sigma_max: float = 10.0
    seed: int = 0


def make_spiral(n: int = 256, turns: float = 1.75) -> torch.Tensor:
    """n points evenly spaced (in angle) along a spiral of radius <= 1. Returns (n, 2)."""
    theta = torch.linspace(0.5 * math.pi, (0.25 + 2 * turns) * math.pi, n)
    r = theta / theta.max()
    return torch.stack([r * torch.cos(theta), r * torch.sin(theta)], dim=1)


class SpiralDenoiser(nn.Module):
    """eps_theta(x, sigma): an MLP on [x / sqrt(1 + sigma^2), sigma_embedding(sigma)].

    Dividing by sqrt(1 + sigma^2) gives the network inputs of unit scale at every noise level
    (it is DDPM's x_t, notebook 02). Beyond the trained range [sigma_min, sigma_max] the
    embedding is clamped: there the data is invisible and all noise levels look alike.
    x: (B, 2), sigma: scalar or (B,) -> eps_hat: (B, 2).
    """

    def __init__(self, hidden: int = 128, depth: int = 4, emb_dim: int = 16,
                 sigma_min: float = 0.01, sigma_max: float = 10.0):
        super().__init__()
        self.emb_dim, self.sigma_min, self.sigma_max = emb_dim, sigma_min, sigma_max
        layers, width = [], 2 + emb_dim
        for _ in range(depth):
            layers += [nn.Linear(width, hidden), nn.SiLU()]
            width = hidden
        self.net = nn.Sequential(*layers, nn.Linear(width, 2))

    def forward(self, x: torch.Tensor, sigma, cond=None) -> torch.Tensor:
        sigma = batch_sigma(sigma, x)                                       # (B,)
        x_in = x / torch.sqrt(1 + sigma[:, None] ** 2)                      # (B, 2)
        emb = sigma_embedding(sigma.clamp(self.sigma_min, self.sigma_max), self.emb_dim)
        return self.net(torch.cat([x_in, emb], dim=1))


def build(c: SpiralConfig | dict) -> SpiralDenoiser:
    """Notebook 01's denoiser from its config (as saved with data/spiral_mlp.pt)."""
    c = SpiralConfig.from_dict(c)
    return SpiralDenoiser(c.hidden, c.depth, c.emb_dim, c.sigma_min, c.sigma_max)
