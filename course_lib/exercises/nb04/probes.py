"""Shared by notebook 04's exercise files: a finite set K and query points x."""
from __future__ import annotations

import torch

from course_lib.checking import Case
from course_lib.exercises.common import gen


def probe_K() -> torch.Tensor:
    """The data set K: 7 points in 2-d. (7, 2)"""
    return torch.randn(7, 2, generator=gen(30))


def probe_x(n: int = 9, d: int = 2, seed: int = 31, scale: float = 1.5) -> torch.Tensor:
    """n query points in d dimensions. (n, d)"""
    return torch.randn(n, d, generator=gen(seed)) * scale


def set_cases() -> dict[str, Case]:
    """The cases of dist_K and proj_K: points, points of K itself, and 3-d."""
    K = probe_K()
    return {"points": Case((probe_x(), K)), "on_K": Case((K[[3, 0, 6]].clone(), K)),
            "3d": Case((probe_x(5, 3, 32), probe_x(4, 3, 33, scale=1.0)))}


def sq_dists(x: torch.Tensor, K: torch.Tensor) -> torch.Tensor:
    """||x_b - k_n||^2 for every pair: used by the planted answers. (B, N)"""
    return ((x[:, None, :] - K[None]) ** 2).sum(-1)
