"""Denoising as projection, sampling as gradient descent (Permenter & Yuan, ICML 2024).

Introduced in notebook 04. For a finite data set K: the distance dist_K, the projection
proj_K, and the ideal denoiser, the exact minimiser of the training loss, a softmax-weighted
average of the data points. All functions take x: (B, D), K: (N, D).
"""
from __future__ import annotations

import torch

# The notebook's exercises: each reference lives once, in its exercise file.
from course_lib.exercises.nb04.dist_K import dist_K
from course_lib.exercises.nb04.gd_step import gd_step
from course_lib.exercises.nb04.ideal_eps import ideal_eps
from course_lib.exercises.nb04.proj_K import proj_K

__all__ = ["dist_K", "gd_step", "ideal_denoiser", "ideal_eps", "proj_K"]


def ideal_denoiser(K: torch.Tensor):
    """ideal_eps for a fixed K, as a course denoiser(x, sigma, cond=None) -> eps_hat."""
    return lambda x, sigma, cond=None: ideal_eps(x, sigma, K)
