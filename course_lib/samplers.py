"""One sampling loop for the whole course, over an explicit decreasing list of noise levels.

Introduced in notebook 01 (deterministic case) and generalised in notebooks 02-04. The update
with parameters (gam, mu) covers DDIM (1, 0), DDPM (1, 1/2) and the gradient-estimation
sampler (2, 0) of Permenter & Yuan (ICML 2024), all in the sigma view x = x0 + sigma * eps.
"""
from __future__ import annotations

from collections.abc import Iterator

import torch

# Notebook 04's exercise: its reference lives once, in its exercise file.
from course_lib.exercises.nb04.ge_direction import ge_direction

__all__ = ["ge_direction", "sample", "samples"]


def samples(denoiser, sigmas: torch.Tensor, x: torch.Tensor, gam: float = 1.0, mu: float = 0.0,
            cond=None, generator: torch.Generator | None = None) -> Iterator[torch.Tensor]:
    """Walk consecutive pairs (sigma, sigma_next) of `sigmas`; yield x after every step.

    x starts at noise level sigmas[0] (e.g. sigmas[0] * randn). Each step moves x towards the
    denoiser's x0 guess by replacing sigma with sigma_p (sigma_p = sigma_next when mu = 0) and
    adds fresh noise of std sqrt(sigma_next^2 - sigma_p^2). With gam != 1 the direction mixes
    this step's eps_hat with the previous one: eps_bar = gam*eps_hat + (1-gam)*eps_prev.
    """
    if not 0 <= mu < 1:
        raise ValueError(f"mu must be in [0, 1), got {mu}")
    eps_prev = None
    for sigma, sigma_next in zip(sigmas[:-1], sigmas[1:]):
        eps_hat = denoiser(x, sigma, cond) if cond is not None else denoiser(x, sigma)
        eps_bar = ge_direction(eps_hat, eps_prev, gam)
        sigma_p = (sigma_next / sigma**mu) ** (1 / (1 - mu))
        noise_std = (sigma_next**2 - sigma_p**2).clamp(min=0).sqrt()
        x = x - (sigma - sigma_p) * eps_bar
        if noise_std > 0:
            x = x + noise_std * torch.randn(x.shape, generator=generator, dtype=x.dtype).to(x)
        eps_prev = eps_hat
        yield x


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
