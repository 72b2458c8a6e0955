"""Exact denoisers and short schedules that the sampling-loop checks (notebooks 02-04) probe
with: cheap, deterministic, and with known answers, so a check takes well under a second."""
from __future__ import annotations

import torch

from course_lib.exercises.common import gen


def linear_alpha_bar(T: int) -> torch.Tensor:
    """alpha_bar of a linear beta schedule that reaches pure noise in only T steps."""
    from course_lib import ddpm

    return ddpm.alpha_bars(ddpm.linear_betas(T, 1e-3, 6.0 / T))


def cosine_alpha_bar(T: int) -> torch.Tensor:
    from course_lib import ddpm

    return ddpm.alpha_bars(ddpm.cosine_betas(T))


def points(n: int, seed: int):
    """n points K in 2-d, and the exact eps_hat of the data set K (notebook 04's ideal_eps),
    as a sigma-view denoiser(x, sigma, cond=None) in x's dtype."""
    from course_lib.projection import ideal_eps

    K = torch.randn(n, 2, generator=gen(seed)) * 2
    return K, lambda x, sigma, cond=None: ideal_eps(x, sigma, K.to(x.dtype))


def gaussian(s: float):
    """The exact eps_hat for data ~ N(0, s^2 I), in the sigma view, for inputs of any rank."""
    def denoiser(x, sigma, cond=None):
        sigma = torch.as_tensor(sigma, dtype=x.dtype)
        if sigma.dim():
            sigma = sigma.reshape(-1, *[1] * (x.dim() - 1))
        return sigma * x / (s**2 + sigma**2)
    return denoiser
