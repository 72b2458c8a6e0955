"""DDIM (Song, Meng & Ermon, 2021): the eta-family of updates on a subsequence of timesteps.

Introduced in notebook 03. eta = 0 is deterministic; eta = 1 has DDPM's posterior variance.
In the sigma view the eta = 0 step is x - (sigma - sigma_next) * eps_hat (notebook 01), so
`ddim_sigmas` turns a timestep subsequence into the sigma list for `samplers.samples`.
"""
from __future__ import annotations

from collections.abc import Iterator

import torch

# The notebook's exercises: each reference lives once, in its exercise file.
from course_lib.exercises.nb03.ddim_noise_std import ddim_noise_std
from course_lib.exercises.nb03.ddim_sigmas import ddim_sigmas
from course_lib.exercises.nb03.ddim_step import ddim_step
from course_lib.exercises.nb03.ddim_timesteps import ddim_timesteps

__all__ = ["ddim_noise_std", "ddim_samples", "ddim_sigmas", "ddim_step", "ddim_timesteps"]


@torch.no_grad()
def ddim_samples(model, alpha_bar: torch.Tensor, timesteps: torch.Tensor, x_T: torch.Tensor,
                 eta: float = 0.0, generator: torch.Generator | None = None
                 ) -> Iterator[torch.Tensor]:
    """Walk the timesteps with ddim_step; the last step goes to alpha_bar = 1 (x0 itself),
    like diffusers' set_alpha_to_one=True. model(x_t, t) -> eps_hat. Yields each x."""
    x = x_T
    prevs = list(timesteps[1:]) + [None]
    for t, t_prev in zip(timesteps, prevs):
        a_prev = alpha_bar[t_prev] if t_prev is not None else torch.tensor(1.0)
        noise = torch.randn(x.shape, generator=generator) if eta > 0 else torch.zeros_like(x)
        x = ddim_step(x, model(x, int(t)), alpha_bar[t], a_prev, eta, noise)
        yield x

