"""Probe objects shared by notebook 06's checks: modules with fixed random weights."""
from __future__ import annotations

import torch
from torch import nn

from course_lib.exercises.common import seeded


def fixed(build, seed: int) -> nn.Module:
    """A module with fixed random weights (probe draw `seed`), built without touching the
    learner's RNG. Its parameters require grad, as in training, so a check sees whether the
    graph is kept."""
    with seeded(seed):
        return build()


def random_affine(norm: nn.GroupNorm, g: torch.Generator) -> nn.GroupNorm:
    """Give a GroupNorm a random (not the default 1 and 0) affine weight and bias, in place."""
    with torch.no_grad():
        norm.weight.copy_(1 + 0.5 * torch.randn(norm.weight.shape, generator=g))
        norm.bias.copy_(0.5 * torch.randn(norm.bias.shape, generator=g))
    return norm
