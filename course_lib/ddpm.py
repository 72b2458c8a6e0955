"""DDPM (Ho et al., 2020): beta schedules, alpha_bar, closed-form noising, ancestral steps.

Introduced in notebook 02. Integer timesteps t = 0 .. T-1 appear here because this is where
the course meets diffusers; the bridge to the sigma view of notebook 01 is
sigma_t = sqrt(1 / alpha_bar_t - 1) and x_t = sqrt(alpha_bar_t) * x_sigma.
"""
from __future__ import annotations

import math
from collections.abc import Iterator

import torch


def linear_betas(T: int = 1000, beta_start: float = 1e-4, beta_end: float = 0.02) -> torch.Tensor:
    """DDPM's schedule: beta_t rising linearly from beta_start to beta_end. Returns (T,)."""
    return torch.linspace(beta_start, beta_end, T, dtype=torch.float32)


def cosine_betas(T: int = 1000, s: float = 0.008, max_beta: float = 0.999) -> torch.Tensor:
    """Nichol & Dhariwal (2021), eq. 17: alpha_bar(u) = cos^2((u + s)/(1 + s) * pi/2) at
    u = t/T, turned into betas beta_t = 1 - alpha_bar((t+1)/T) / alpha_bar(t/T), capped at
    max_beta (diffusers' "squaredcos_cap_v2"). Returns (T,)."""
    u = torch.arange(T + 1, dtype=torch.float64) / T
    f = torch.cos((u + s) / (1 + s) * math.pi / 2) ** 2
    return (1 - f[1:] / f[:-1]).clamp(max=max_beta).float()


def alpha_bars(betas: torch.Tensor) -> torch.Tensor:
    """alpha_bar_t = prod_{s <= t} (1 - beta_s): the signal fraction left after step t. (T,)"""
    return torch.cumprod(1 - betas, dim=0)


def q_sample(x0: torch.Tensor, t: torch.Tensor, eps: torch.Tensor,
             alpha_bar: torch.Tensor) -> torch.Tensor:
    """x_t = sqrt(alpha_bar_t) x0 + sqrt(1 - alpha_bar_t) eps (DDPM eq. 4). t: (B,) ints."""
    a = alpha_bar[t].reshape(-1, *[1] * (x0.dim() - 1))
    return a.sqrt() * x0 + (1 - a).sqrt() * eps


def alpha_bar_to_sigma(alpha_bar: torch.Tensor) -> torch.Tensor:
    """The sigma view's noise level of DDPM step t: sigma_t = sqrt(1 / alpha_bar_t - 1)."""
    return (1 / alpha_bar - 1).sqrt()


def posterior_mean(x0: torch.Tensor, x_t: torch.Tensor, t: int,
                   alpha_bar: torch.Tensor) -> torch.Tensor:
    """Mean of q(x_{t-1} | x_t, x0) (DDPM eq. 7):
    sqrt(alpha_bar_{t-1}) beta_t / (1 - alpha_bar_t) x0
      + sqrt(alpha_t) (1 - alpha_bar_{t-1}) / (1 - alpha_bar_t) x_t,
    with alpha_t = alpha_bar_t / alpha_bar_{t-1}, beta_t = 1 - alpha_t, alpha_bar_{-1} = 1."""
    a_t, a_prev = alpha_bar[t], (alpha_bar[t - 1] if t > 0 else torch.tensor(1.0))
    alpha = a_t / a_prev
    return (a_prev.sqrt() * (1 - alpha) * x0 + alpha.sqrt() * (1 - a_prev) * x_t) / (1 - a_t)


def ddpm_step(x_t: torch.Tensor, t: int, eps_hat: torch.Tensor, alpha_bar: torch.Tensor,
              noise: torch.Tensor) -> torch.Tensor:
    """One ancestral step x_t -> x_{t-1} (DDPM Algorithm 2, variance beta_tilde_t).

    Plug x0_hat = (x_t - sqrt(1 - alpha_bar_t) eps_hat) / sqrt(alpha_bar_t) into the posterior
    mean, then add sqrt(beta_tilde_t) * noise with
    beta_tilde_t = (1 - alpha_bar_{t-1}) / (1 - alpha_bar_t) * beta_t; no noise at t = 0.
    (Algebraically equal to Algorithm 2's (x_t - beta_t/sqrt(1-alpha_bar_t) eps_hat)/sqrt(alpha_t).)
    """
    a_t, a_prev = alpha_bar[t], (alpha_bar[t - 1] if t > 0 else torch.tensor(1.0))
    x0_hat = (x_t - (1 - a_t).sqrt() * eps_hat) / a_t.sqrt()
    mean = posterior_mean(x0_hat, x_t, t, alpha_bar)
    if t == 0:
        return mean
    var = (1 - a_prev) / (1 - a_t) * (1 - a_t / a_prev)
    return mean + var.sqrt() * noise


def eps_model(denoiser, alpha_bar: torch.Tensor):
    """Wrap a sigma-view denoiser as DDPM's eps_theta(x_t, t): the same network serves both,
    because x_sigma = x_t / sqrt(alpha_bar_t) carries the same noise eps at sigma_t."""
    def model(x_t: torch.Tensor, t) -> torch.Tensor:  # t: an int or a (B,) tensor of ints
        a = alpha_bar[t]
        scale = a.sqrt().reshape(-1, *[1] * (x_t.dim() - 1)) if a.dim() else a.sqrt()
        return denoiser(x_t / scale, alpha_bar_to_sigma(a))
    return model


@torch.no_grad()
def ddpm_samples(model, alpha_bar: torch.Tensor, x_T: torch.Tensor,
                 generator: torch.Generator | None = None) -> Iterator[torch.Tensor]:
    """Ancestral sampling from x_T ~ N(0, I): yields x_{t-1} for t = T-1 .. 0."""
    x = x_T
    for t in range(len(alpha_bar) - 1, -1, -1):
        noise = torch.randn(x.shape, generator=generator) if t > 0 else torch.zeros_like(x)
        x = ddpm_step(x, t, model(x, t), alpha_bar, noise)
        yield x
