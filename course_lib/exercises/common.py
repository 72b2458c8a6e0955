"""Small helpers shared by the exercise files: seeded probe inputs, the grading draw, and sigma
broadcasting.

Every random probe input comes from `gen(n)` (or `seeded(n)` for modules built with torch's
own initialisers). In a notebook the draw is 0 and the probes are always the same ones, which
the check's messages may show. The class grader grades under a fresh draw (`probes_drawn`), so
every `gen(n)` gives other numbers and `pick` other operating points: an answer that recalls
the notebook's probes instead of computing fails there.
"""
from __future__ import annotations

import contextlib
import random

import torch

_DRAW = 0  # 0: the notebook's probes; anything else: the class grader's --seed


def draw() -> int:
    """The probe draw in force: 0 in notebooks, the grading seed in the class grader."""
    return _DRAW


@contextlib.contextmanager
def probes_drawn(seed: int):
    """Within the block, probe inputs come from draw `seed` (0 = the notebook's own)."""
    global _DRAW
    old, _DRAW = _DRAW, int(seed)
    try:
        yield
    finally:
        _DRAW = old


def _mix(n: int) -> int:
    return n if _DRAW == 0 else (n + _DRAW * 1_000_003) % 2**63


def gen(n: int) -> torch.Generator:
    """A CPU generator for probe input number n: probes never touch the global RNG."""
    return torch.Generator().manual_seed(_mix(n))


@contextlib.contextmanager
def seeded(n: int):
    """torch's global RNG seeded for probe n inside the block (for modules built with their
    default initialisers), and restored afterwards."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(_mix(n))
        yield


def pick(n: int, notebook, *others):
    """An operating point: `notebook` in the notebook's draw; under a grading draw one of all
    the values given, chosen by n and the draw."""
    if _DRAW == 0:
        return notebook
    return random.Random(_mix(n)).choice((notebook, *others))


def states(loop):
    """The harness of a sampling-loop exercise: every state the loop yields, stacked (T, B, ...),
    so answer and reference are compared step by step."""
    def run(*args, **kwargs):
        out = loop(*args, **kwargs)
        if out is None or isinstance(out, torch.Tensor):
            raise TypeError("the loop must yield x after every step (or return the list of "
                            f"them); it returned {type(out).__name__}")
        xs = list(out)
        if not xs or not all(isinstance(x, torch.Tensor) for x in xs):
            raise TypeError("the loop must yield one tensor x after every step")
        return torch.stack(xs)
    return run


def per_sample(sigma: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """sigma (B,) reshaped to (B, 1, ..., 1) to broadcast over x (B, *D); used by BUGS."""
    return sigma.reshape(-1, *[1] * (x.dim() - 1))
