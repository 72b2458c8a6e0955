"""DDIM (Song, Meng & Ermon, 2021): the eta-family of updates on a subsequence of timesteps.

Introduced in notebook 03. eta = 0 is deterministic; eta = 1 has DDPM's posterior variance.
In the sigma view the eta = 0 step is x - (sigma - sigma_next) * eps_hat (notebook 01), so
`ddim_sigmas` turns a timestep subsequence into the sigma list for `samplers.samples`.
"""
from __future__ import annotations

from collections.abc import Iterator

import torch

from course_lib.ddpm import alpha_bar_to_sigma


def ddim_timesteps(T: int, n: int) -> torch.Tensor:
    """n timesteps spaced T // n apart, descending: diffusers' "leading" spacing,
    e.g. T = 1000, n = 10 -> [900, 800, ..., 100, 0]. Returns (n,) int64."""
    return (torch.arange(n) * (T // n)).flip(0)


def ddim_noise_std(alpha_bar_t: torch.Tensor, alpha_bar_prev: torch.Tensor,
                   eta: float) -> torch.Tensor:
    """DDIM eq. 16: eta * sqrt((1 - a_prev) / (1 - a_t)) * sqrt(1 - a_t / a_prev)."""
    a_t, a_prev = alpha_bar_t, alpha_bar_prev
    return eta * ((1 - a_prev) / (1 - a_t) * (1 - a_t / a_prev)).sqrt()


def ddim_step(x_t: torch.Tensor, eps_hat: torch.Tensor, alpha_bar_t: torch.Tensor,
              alpha_bar_prev: torch.Tensor, eta: float, noise: torch.Tensor) -> torch.Tensor:
    """DDIM eq. 12: x_prev = sqrt(a_prev) x0_hat + sqrt(1 - a_prev - s^2) eps_hat + s * noise,
    with x0_hat = (x_t - sqrt(1 - a_t) eps_hat) / sqrt(a_t) and s = ddim_noise_std(...)."""
    x0_hat = (x_t - (1 - alpha_bar_t).sqrt() * eps_hat) / alpha_bar_t.sqrt()
    s = ddim_noise_std(alpha_bar_t, alpha_bar_prev, eta)
    return alpha_bar_prev.sqrt() * x0_hat + (1 - alpha_bar_prev - s**2).sqrt() * eps_hat + s * noise


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


def ddim_sigmas(alpha_bar: torch.Tensor, timesteps: torch.Tensor) -> torch.Tensor:
    """The sigma-view noise levels of a timestep subsequence, ending at 0. Returns (n + 1,)."""
    return torch.cat([alpha_bar_to_sigma(alpha_bar[timesteps]), torch.zeros(1)])
