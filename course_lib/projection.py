"""Denoising as projection, sampling as gradient descent (Permenter & Yuan, ICML 2024).

Introduced in notebook 04. For a finite data set K: the distance dist_K, the projection
proj_K, and the ideal denoiser, the exact minimiser of the training loss, a softmax-weighted
average of the data points. All functions take x: (B, D), K: (N, D).
"""
from __future__ import annotations

import torch


def _sq_dists(x: torch.Tensor, K: torch.Tensor) -> torch.Tensor:
    return ((x[:, None, :] - K[None, :, :]) ** 2).sum(-1)  # (B, N), exact even when tiny


def dist_K(x: torch.Tensor, K: torch.Tensor) -> torch.Tensor:
    """dist_K(x) = min_k ||x - k||. Returns (B,)."""
    return _sq_dists(x, K).min(dim=1).values.sqrt()


def proj_K(x: torch.Tensor, K: torch.Tensor) -> torch.Tensor:
    """proj_K(x) = argmin_k ||x - k||, the nearest data point. Returns (B, D)."""
    return K[_sq_dists(x, K).argmin(dim=1)]


def ideal_eps(x: torch.Tensor, sigma: torch.Tensor, K: torch.Tensor) -> torch.Tensor:
    """The ideal denoiser (paper eq. 5): eps* = (x - sum_k w_k k) / sigma with
    w = softmax_k(-||x - k||^2 / (2 sigma^2)), the posterior over K of x = k + sigma * eps.
    sigma: scalar or (B,). Returns (B, D)."""
    sigma = torch.as_tensor(sigma, dtype=x.dtype).expand(x.shape[0])[:, None]  # (B, 1)
    w = torch.softmax(-_sq_dists(x, K) / (2 * sigma**2), dim=1)               # (B, N)
    return (x - w @ K) / sigma


def ideal_denoiser(K: torch.Tensor):
    """ideal_eps for a fixed K, as a course denoiser(x, sigma, cond=None) -> eps_hat."""
    return lambda x, sigma, cond=None: ideal_eps(x, sigma, K)


def gd_step(x: torch.Tensor, K: torch.Tensor, step: float) -> torch.Tensor:
    """Gradient descent on f(x) = 1/2 dist_K(x)^2, whose gradient is x - proj_K(x)."""
    return x - step * (x - proj_K(x, K))
