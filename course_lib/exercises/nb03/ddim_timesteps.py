"""Exercise `ddim_timesteps` (notebook 03): the timestep subsequence, diffusers' leading spacing."""
from __future__ import annotations

import torch

from course_lib.checking import Case, Props, exercise
from course_lib.exercises.common import pick
from course_lib.exercises.nb03.probes import ddim_scheduler


# <solution cell>
def ddim_timesteps(T: int, n: int) -> torch.Tensor:
    """The n of T training timesteps a DDIM sampler visits with diffusers' leading spacing
    (section 1), in the order they are visited (largest first). Returns (n,) int64."""
    ### BEGIN SOLUTION
    return (torch.arange(n) * (T // n)).flip(0)
    ### END SOLUTION
# </solution cell>


def cases() -> dict[str, Case]:
    T, n = pick(73, (600, 7), (999, 13), (500, 9), (750, 13))  # T / n is not an integer
    short = pick(75, 40, 30, 64)
    return {"n10": Case((1000, pick(70, 10, 8, 20, 25))),
            "n50": Case((1000, pick(71, 50, 40, 100, 125))),
            "n3": Case((1000, pick(72, 3, 6, 7, 9))),
            "T_other": Case((T, n)),
            "one_step": Case((pick(74, 1000, 500, 999), 1)),
            "every_step": Case((short, short))}


PROPS = Props()


@PROPS
def _diffusers(outs, refs):
    """equals diffusers' DDIMScheduler timesteps, for any T and n

    diffusers' leading spacing: n timesteps on an even stride that is T divided by n rounded
    down (T is the argument, not 1000), counted down to 0, largest first, as integers

    code: the stride is T // n (floor division, not round(T / n)); torch.arange(n) times the
    stride, then .flip(0); torch.arange(0, T, stride) gives too many values when n does not
    divide T"""
    for name, case in cases().items():
        T, n = case.args
        s = ddim_scheduler(T=T)
        s.set_timesteps(n)
        got = outs[name].value
        if not torch.equal(got, s.timesteps):
            return False, (f"T = {T}, n = {n}: yours {got.tolist()[:6]}..., "
                           f"diffusers {s.timesteps.tolist()[:6]}...")
    return True, "same as DDIMScheduler(T).set_timesteps(n).timesteps on all the cases"


BUGS = {
    "ascending": lambda T, n: torch.arange(n) * (T // n),
    "linspace (trailing-like)": lambda T, n: torch.linspace(T - 1, 0, n).round().long(),
    "one too many": lambda T, n: (torch.arange(n + 1) * (T // n)).flip(0),
    "[held] T = 1000": lambda T, n: (torch.arange(n) * (1000 // n)).flip(0),
    "[held] T / n rounded, not floored": lambda T, n: (torch.arange(n) * round(T / n)).flip(0),
    "[held] fractional step T / n, floored afterwards":
        lambda T, n: (torch.arange(n) * T / n).long().flip(0),
    "[held] arange(0, T, T // n) (n + 1 values when n does not divide T)":
        lambda T, n: torch.arange(0, T, T // n).flip(0),
    "[dtype] float timesteps": lambda T, n: (torch.arange(n) * float(T // n)).flip(0),
}

EXERCISE = exercise(globals(), points=1,
                    summary="the timestep subsequence, diffusers' leading spacing",
                    reread="1. A subsequence of timesteps")
