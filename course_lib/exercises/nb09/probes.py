"""Helpers shared by notebook 09's exercises: a probe output as a float, random embeddings."""
from __future__ import annotations

import torch


def value(outs, name: str) -> float:
    """The output of case `name` (a 0-dim tensor or a number) as a Python float."""
    return float(torch.as_tensor(outs[name].value))


def embeddings(g: torch.Generator, b: int = 6, d: int = 8, dtype=torch.float32):
    """A batch of b image and b text embeddings of size d, unnormalised."""
    return (torch.randn(b, d, generator=g, dtype=dtype),
            torch.randn(b, d, generator=g, dtype=dtype))
