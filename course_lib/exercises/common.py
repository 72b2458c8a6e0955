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
from collections.abc import Callable

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
        where = [x.data_ptr() for x in xs if x.numel() and not x.is_meta]
        if len(set(where)) < len(where):
            raise TypeError("the loop yielded the same tensor at several steps, changed in "
                            "place (x -= ..., x.add_(...)): each step must yield a new "
                            "tensor, so that the states it handed back stay as they were")
        return torch.stack(xs)
    return run


# The course's training loops: an exercise that writes a training loop or step must not hand
# its work to them (its exercise lists them among its proxies).
TRAINING_LOOPS = ("course_lib.diffusion.train_denoiser", "course_lib.fit.fit")


def as_list(loop: Callable) -> Callable:
    """A right answer for a sampling loop, as a correct alternative: the loop's states
    returned as a list rather than yielded (the harness `states` takes either)."""
    return lambda *args, **kwargs: list(loop(*args, **kwargs))


def update(loss: torch.Tensor, optimizer, copy_loss: bool = False, zero_grad: bool = True,
           step: bool = True) -> torch.Tensor:
    """A training step's update as planted bugs get it wrong: backpropagate a copy of the
    loss's value (a new leaf, so no weight gets a gradient), leave the old gradients in place,
    or never step. Returns the loss it backpropagated."""
    if copy_loss:
        loss = torch.tensor(loss.item(), requires_grad=True)
    if zero_grad:
        optimizer.zero_grad()
    loss.backward()
    if step:
        optimizer.step()
    return loss


def per_sample(sigma: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """sigma (B,) reshaped to (B, 1, ..., 1) to broadcast over x (B, *D); used by BUGS."""
    return sigma.reshape(-1, *[1] * (x.dim() - 1))


def same_count(case: str, unit: str) -> Callable:
    """A Prop test of a sampling loop: on case `case` the answer yields as many states as the
    reference, one per `unit` ("timestep"); the detail names both counts."""
    def test(outs, refs):
        n, want = outs[case].value.shape[0], refs[case].value.shape[0]
        return n == want, f"{n} states, {want} expected (one per {unit})"
    return test


def lands_on(case: str, points: Callable[[], torch.Tensor], tol: float,
             classes: Callable[[], tuple[torch.Tensor, torch.Tensor]] | None = None
             ) -> Callable:
    """A Prop test of a sampling loop: every final state of case `case` ends within tol of a
    point of points() (N, D). With classes() = (labels of the points (N,), label of each sample
    (B,)): within tol of a point of its own label, and nearest to one of those."""
    def test(outs, refs):
        final = outs[case].value[-1]
        dist = torch.cdist(final, points().to(final.dtype))          # (B, N)
        if classes is None:
            gap = dist.min(dim=1).values.max().item()
            return gap < tol, (f"largest distance from a final sample to K: {gap:.3f} "
                               f"(at most {tol:g} expected)")
        labels, cond = classes()
        own = dist.masked_fill(labels[None, :] != cond[:, None], torch.inf).min(dim=1).values
        wrong = labels[dist.argmin(dim=1)] != cond
        return own.max().item() < tol and not wrong.any(), (
            f"{int(wrong.sum())} of {len(cond)} samples nearest a point of another class; "
            f"largest distance to a point of its own: {own.max():.3f} (at most {tol:g} "
            "expected)")
    return test
