"""Numbers for 2D samples: how close to the data curve (distance, precision), how much of it
is covered (coverage), and a distance between the two point clouds. Introduced in notebook
01; used again in 02-05.

All take (N, 2) tensors; `data` is a finite set of points on the curve (dense enough that
the nearest data point stands for the nearest point on the curve).
"""
from __future__ import annotations

import torch


def _cdist(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    # the default matmul shortcut loses ~1e-5 on near-zero distances; these sets are small
    return torch.cdist(a, b, compute_mode="donot_use_mm_for_euclid_dist")


def dist_to_data(samples: torch.Tensor, data: torch.Tensor) -> float:
    """Mean Euclidean distance from each sample to its nearest data point (0 is perfect)."""
    return _cdist(samples, data).min(dim=1).values.mean().item()


def precision(samples: torch.Tensor, data: torch.Tensor, radius: float = 0.05) -> float:
    """Fraction of samples within `radius` of some data point (1 is perfect)."""
    return (_cdist(samples, data).min(dim=1).values <= radius).float().mean().item()


def coverage(samples: torch.Tensor, data: torch.Tensor, radius: float = 0.05) -> float:
    """Fraction of data points with at least one sample within `radius` (1 is perfect)."""
    return (_cdist(data, samples).min(dim=1).values <= radius).float().mean().item()


def energy_distance(a: torch.Tensor, b: torch.Tensor) -> float:
    """Energy distance 2E|A-B| - E|A-A'| - E|B-B'| (Szekely & Rizzo): 0 iff same distribution.

    Uses the V-statistic (diagonals included), so two finite samples of one distribution give
    a small positive number rather than exactly 0.
    """
    ab = _cdist(a, b).mean()
    aa = _cdist(a, a).mean()
    bb = _cdist(b, b).mean()
    return (2 * ab - aa - bb).item()


def report(samples: torch.Tensor, data: torch.Tensor, radius: float = 0.05) -> dict[str, float]:
    """All three metrics in one dict, rounded for printing."""
    return {
        "dist_to_data": round(dist_to_data(samples, data), 4),
        "precision": round(precision(samples, data, radius), 3),
        "coverage": round(coverage(samples, data, radius), 3),
        "energy_distance": round(energy_distance(samples, data), 4),
    }
