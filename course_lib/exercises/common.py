"""Small helpers shared by the exercise files: seeded generators and sigma broadcasting."""
from __future__ import annotations

import torch


def gen(seed: int) -> torch.Generator:
    """A CPU generator with a fixed seed: probe inputs never touch the global RNG."""
    return torch.Generator().manual_seed(seed)


def per_sample(sigma: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """sigma (B,) reshaped to (B, 1, ..., 1) to broadcast over x (B, *D); used by BUGS."""
    return sigma.reshape(-1, *[1] * (x.dim() - 1))
