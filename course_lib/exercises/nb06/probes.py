"""Probe objects shared by notebook 06's checks: modules with fixed random weights."""
from __future__ import annotations

import torch
from torch import nn


def fixed(build, seed: int) -> nn.Module:
    """A module with fixed random weights, built without touching the learner's RNG. Its
    parameters require grad, as in training, so a check sees whether the graph is kept."""
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        return build()
