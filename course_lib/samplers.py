"""One sampling loop for the whole course, over an explicit decreasing list of noise levels.

Introduced in notebook 01 (deterministic case) and generalised in notebooks 02-04. The update
with parameters (gam, mu) covers DDIM (1, 0), DDPM (1, 1/2) and the gradient-estimation
sampler (2, 0) of Permenter & Yuan (ICML 2024), all in the sigma view x = x0 + sigma * eps.
"""
from __future__ import annotations

import torch

# Notebook 04's exercises: their references live once, in their exercise files.
from course_lib.exercises.nb04.ge_direction import ge_direction
from course_lib.exercises.nb04.samples import samples

__all__ = ["ge_direction", "sample", "samples"]


@torch.no_grad()
def sample(denoiser, sigmas: torch.Tensor, n: int, dim: int | tuple[int, ...] = 2,
           gam: float = 1.0, mu: float = 0.0, seed: int = 0, trajectory: bool = False):
    """Draw n samples of shape dim (an int, or a tuple such as (3, 32, 32)) from pure noise;
    return the final x (n, *dim), or all states (T, n, *dim)."""
    gen = torch.Generator().manual_seed(seed)
    shape = (dim,) if isinstance(dim, int) else tuple(dim)
    x = sigmas[0] * torch.randn(n, *shape, generator=gen)
    states = [x] + list(samples(denoiser, sigmas, x, gam=gam, mu=mu, generator=gen))
    return torch.stack(states) if trajectory else states[-1]
