"""Exercise `ddim_timesteps` (notebook 03): the timestep subsequence, diffusers' leading spacing."""
from __future__ import annotations

import torch

from course_lib.checking import Case, Props, exercise
from course_lib.exercises.nb03.probes import ddim_scheduler


# <solution cell>
def ddim_timesteps(T: int, n: int) -> torch.Tensor:
    """n timesteps k * (T // n), k = n-1 .. 0 (descending). Returns (n,) int64."""
    ### BEGIN SOLUTION
    return (torch.arange(n) * (T // n)).flip(0)
    ### END SOLUTION
# </solution cell>


def cases() -> dict[str, Case]:
    return {"n10": Case((1000, 10)), "n50": Case((1000, 50)), "n3": Case((1000, 3))}


PROPS = Props()


@PROPS("equals diffusers' DDIMScheduler timesteps",
       "multiples of T // n from (n - 1) * (T // n) down to 0: "
       "(torch.arange(n) * (T // n)).flip(0)")
def _diffusers(outs, refs):
    for name, n in (("n10", 10), ("n50", 50), ("n3", 3)):
        s = ddim_scheduler()
        s.set_timesteps(n)
        got = outs[name].value
        if not torch.equal(got, s.timesteps):
            return False, (f"n = {n}: yours {got.tolist()[:6]}..., "
                           f"diffusers {s.timesteps.tolist()[:6]}...")
    return True, "same as DDIMScheduler.set_timesteps(n).timesteps for n = 10, 50, 3"


BUGS = {
    "ascending": lambda T, n: torch.arange(n) * (T // n),
    "linspace (trailing-like)": lambda T, n: torch.linspace(T - 1, 0, n).round().long(),
    "one too many": lambda T, n: (torch.arange(n + 1) * (T // n)).flip(0),
}

EXERCISE = exercise(globals(), points=1,
                    summary="the timestep subsequence, diffusers' leading spacing")
