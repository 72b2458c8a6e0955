"""Shared by notebook 04's exercise files: a finite set K and query points x."""
from __future__ import annotations

import torch

from course_lib.checking import Case
from course_lib.exercises.common import gen, pick


def probe_K() -> torch.Tensor:
    """The data set K: 7 points in 2-d. (7, 2)"""
    return torch.randn(7, 2, generator=gen(30))


def probe_x(n: int = 9, d: int = 2, seed: int = 31, scale: float = 1.5,
            dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """n query points in d dimensions. (n, d)"""
    return torch.randn(n, d, generator=gen(seed), dtype=dtype) * scale


def euclid_not_l1() -> tuple[torch.Tensor, torch.Tensor]:
    """One query point x (1, 2) and a set K (5, 2) whose nearest point to x in Euclidean
    distance (at 1.06, on a diagonal) is not the nearest in L1 distance (1.1, on an axis),
    shifted, scaled, mirrored and shuffled for the draw."""
    g = gen(35)
    near = torch.tensor([[0.75, 0.75], [1.1, 0.0]])
    far = 3 + torch.rand(3, 2, generator=g) * 2                       # farther than 3
    K = torch.cat([near, far]) * (1 - 2 * torch.randint(2, (2,), generator=g))  # mirror axes
    if bool(torch.randint(2, (), generator=g)):
        K = K.flip(1)                                                 # swap the axes
    scale, centre = 0.5 + torch.rand((), generator=g), torch.randn(1, 2, generator=g)
    K = centre + scale * K[torch.randperm(5, generator=g)]
    return centre.clone(), K


def set_cases() -> dict[str, Case]:
    """The cases of dist_K and proj_K: points, points of K itself, 3-d, a batch of 1, float64,
    a Euclidean-vs-L1 trap and points far from the origin (large coordinates)."""
    K = probe_K()
    shift = pick(36, 1e4, 3e3, 2e4)
    x_far, K_far = probe_x(6, 2, 38, 1.0), probe_x(5, 2, 39, 1.0)
    return {"points": Case((probe_x(), K)), "on_K": Case((K[[3, 0, 6]].clone(), K)),
            "3d": Case((probe_x(5, 3, 32), probe_x(4, 3, 33, scale=1.0))),
            "batch1": Case((probe_x(1, pick(37, 4, 3, 5), 34), probe_x(6, pick(37, 4, 3, 5),
                                                                        40, scale=1.0))),
            "f64": Case((probe_x(7, 3, 41, dtype=torch.float64),
                         probe_x(8, 3, 42, 1.0, dtype=torch.float64))),
            "euclid": Case(euclid_not_l1()),
            "far": Case((x_far + shift, K_far + shift))}


def sq_dists(x: torch.Tensor, K: torch.Tensor) -> torch.Tensor:
    """||x_b - k_n||^2 for every pair: used by the planted answers. (B, N)"""
    return ((x[:, None, :] - K[None]) ** 2).sum(-1)
