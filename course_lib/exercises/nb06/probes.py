"""Probe objects shared by notebook 06's checks: modules with fixed random weights."""
from __future__ import annotations

import torch
from torch import nn


def fixed(build, seed: int) -> nn.Module:
    """A module with fixed random weights, built without touching the learner's RNG."""
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        module = build()
    for p in module.parameters():
        p.requires_grad_(False)
    return module
