"""Exercise `alpha_bar_to_sigma` (notebook 02): the sigma view's noise level of a DDPM step."""
from __future__ import annotations

import torch

from course_lib import ddpm
from course_lib.checking import Case, Props, close, exercise
from course_lib.exercises.nb02.alpha_bars import alpha_bars


# <solution cell>
def alpha_bar_to_sigma(alpha_bar: torch.Tensor) -> torch.Tensor:
    """sigma_t = sqrt(1 / alpha_bar_t - 1), elementwise."""
    ### BEGIN SOLUTION
    return (1 / alpha_bar - 1).sqrt()
    ### END SOLUTION
# </solution cell>


def cases() -> dict[str, Case]:
    return {"simple": Case((torch.tensor([1.0, 0.5, 0.2]),)),
            "linear": Case((alpha_bars(ddpm.linear_betas()),))}


PROPS = Props()


@PROPS("alpha_bar = 1, 0.5, 0.2 give sigma = 0, 1, 2",
       "x_t / sqrt(alpha_bar) = x0 + sqrt((1 - alpha_bar) / alpha_bar) * eps")
def _simple(outs, refs):
    got = outs["simple"].value.tolist()
    ok = all(abs(a - b) < 1e-5 for a, b in zip(got, [0.0, 1.0, 2.0]))
    return ok, f"alpha_bar [1, 0.5, 0.2] -> {[round(v, 4) for v in got]}, expected [0, 1, 2]"


BUGS = {
    "sqrt(1 - alpha_bar)": lambda ab: (1 - ab).sqrt(),
    "no square root": lambda ab: 1 / ab - 1,
    "sqrt(1 / alpha_bar)": lambda ab: (1 / ab).sqrt(),
}

PROPS("matches the reference on the linear schedule",
      "sigma = sqrt(1 / alpha_bar - 1), a square root of the noise-to-signal ratio",
      close("linear", rtol=1e-4))

EXERCISE = exercise(globals(), points=1, summary="the sigma view's noise level of a DDPM step")
