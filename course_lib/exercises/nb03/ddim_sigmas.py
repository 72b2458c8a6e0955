"""Exercise `ddim_sigmas` (notebook 03): the sigma-view schedule of a timestep subsequence."""
from __future__ import annotations

import torch

from course_lib import ddpm
from course_lib.checking import Case, Props, close, exercise
from course_lib.exercises.nb03.ddim_timesteps import ddim_timesteps
from course_lib.exercises.nb03.probes import linear_alpha_bar


# <solution cell>
def ddim_sigmas(alpha_bar: torch.Tensor, timesteps: torch.Tensor) -> torch.Tensor:
    """sigma of each visited timestep, then a final 0. Returns (n + 1,)."""
    ### BEGIN SOLUTION
    return torch.cat([ddpm.alpha_bar_to_sigma(alpha_bar[timesteps]), torch.zeros(1)])
    ### END SOLUTION
# </solution cell>


def cases() -> dict[str, Case]:
    ab = linear_alpha_bar()
    return {"n10": Case((ab, ddim_timesteps(1000, 10))),
            "n4": Case((ab, torch.tensor([750, 500, 250, 0])))}


PROPS = Props()


@PROPS("decreasing and ending at 0",
       "append a final 0 after the sigmas of the timesteps: the last step lands on "
       "x0_hat")
def _shape(outs, refs):
    s = outs["n10"].value
    ok = s[-1].item() == 0.0 and bool((s[1:] < s[:-1]).all())
    return ok, f"first {s[0]:.3g}, last {s[-1]:.3g}, decreasing: {bool((s[1:] < s[:-1]).all())}"


BUGS = {
    "no final zero": lambda ab, ts: ddpm.alpha_bar_to_sigma(ab[ts]),
    "sqrt(1 - alpha_bar)": lambda ab, ts: torch.cat([(1 - ab[ts]).sqrt(), torch.zeros(1)]),
    "ascending": lambda ab, ts: torch.cat([ddpm.alpha_bar_to_sigma(ab[ts]),
                                           torch.zeros(1)]).flip(0),
}

PROPS("matches the reference",
      "sigma_t = sqrt(1 / alpha_bar[t] - 1) for each t in timesteps",
      close("n10", "n4", rtol=1e-4))

EXERCISE = exercise(globals(), points=2,
                    summary="the sigma-view schedule of a timestep subsequence")
