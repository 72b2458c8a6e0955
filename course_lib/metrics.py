"""Measuring generative models: FID, KID and CLIP score.

Introduced in notebook 09. FID and KID compare two sets of images through the features of an
encoder (features.FeatureNet here, Inception-v3 in the literature); CLIP score compares each
image with its own caption through a CLIP model (clip.TinyCLIP here). Statistics in float64.
"""
from __future__ import annotations

from collections.abc import Callable

import torch

# The notebook's exercises: each reference lives once, in its exercise file.
from course_lib.exercises.nb09.clip_loss import clip_loss
from course_lib.exercises.nb09.clip_score import clip_score
from course_lib.exercises.nb09.fid import fid
from course_lib.exercises.nb09.frechet_distance import frechet_distance
from course_lib.exercises.nb09.mmd2_unbiased import mmd2_unbiased

__all__ = ["clip_loss", "clip_score", "extract", "fid", "frechet_distance", "kid",
           "mmd2_unbiased", "polynomial_kernel", "sqrtm_psd"]


@torch.no_grad()
def extract(encode: Callable[[torch.Tensor], torch.Tensor], images: torch.Tensor,
            batch_size: int = 500) -> torch.Tensor:
    """encode(images) in batches, e.g. FeatureNet.features: (N, 3, H, W) -> (N, d)."""
    return torch.cat([encode(batch) for batch in images.split(batch_size)])


def sqrtm_psd(a: torch.Tensor) -> torch.Tensor:
    """The symmetric square root of a symmetric positive semi-definite matrix, by eigh:
    a = V diag(l) V^T  ->  V diag(sqrt(l)) V^T (tiny negative l from round-off become 0)."""
    vals, vecs = torch.linalg.eigh(a)
    return (vecs * vals.clamp(min=0).sqrt()) @ vecs.T


def polynomial_kernel(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """k(x, y) = (x . y / d + 1)^3 for every pair of rows: (N, d), (M, d) -> (N, M)
    (KID's kernel, Binkowski et al. 2018)."""
    return (x @ y.T / x.shape[1] + 1) ** 3


def kid(features_a: torch.Tensor, features_b: torch.Tensor, n_subsets: int = 100,
        subset_size: int = 1000, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """KID: mmd2_unbiased on random subsets (drawn without replacement) of both feature sets,
    averaged; returns (mean, std over subsets). Computed in float64."""
    a, b = features_a.double(), features_b.double()
    size = min(subset_size, len(a), len(b))
    gen = torch.Generator().manual_seed(seed)
    draws = torch.stack([mmd2_unbiased(a[torch.randperm(len(a), generator=gen)[:size]],
                                       b[torch.randperm(len(b), generator=gen)[:size]])
                         for _ in range(n_subsets)])
    return draws.mean(), draws.std() if n_subsets > 1 else torch.zeros((), dtype=a.dtype)
