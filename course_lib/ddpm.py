"""DDPM (Ho et al., 2020): beta schedules, alpha_bar, closed-form noising, ancestral steps.

Introduced in notebook 02. Integer timesteps t = 0 .. T-1 appear here because this is where
the course meets diffusers; the bridge to the sigma view of notebook 01 is
sigma_t = sqrt(1 / alpha_bar_t - 1) and x_t = sqrt(alpha_bar_t) * x_sigma.
"""
from __future__ import annotations

import math

import torch

# The notebook's exercises: each reference lives once, in its exercise file.
from course_lib.diffusion import append_dims
from course_lib.exercises.nb02.alpha_bar_to_sigma import alpha_bar_to_sigma
from course_lib.exercises.nb02.alpha_bars import alpha_bars
from course_lib.exercises.nb02.ddpm_samples import ddpm_samples
from course_lib.exercises.nb02.ddpm_step import ddpm_step
from course_lib.exercises.nb02.posterior_mean import posterior_mean
from course_lib.exercises.nb02.q_sample import q_sample

__all__ = ["alpha_bar_to_sigma", "alpha_bars", "cosine_betas", "ddpm_samples", "ddpm_step",
           "eps_model", "linear_betas", "posterior_mean", "q_sample"]


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


def eps_model(denoiser, alpha_bar: torch.Tensor):
    """Wrap a sigma-view denoiser as DDPM's eps_theta(x_t, t): the same network serves both,
    because x_sigma = x_t / sqrt(alpha_bar_t) carries the same noise eps at sigma_t."""
    def model(x_t: torch.Tensor, t) -> torch.Tensor:  # t: an int or a (B,) tensor of ints
        a = alpha_bar[t]
        scale = append_dims(a.sqrt(), x_t.dim()) if a.dim() else a.sqrt()
        return denoiser(x_t / scale, alpha_bar_to_sigma(a))
    return model
