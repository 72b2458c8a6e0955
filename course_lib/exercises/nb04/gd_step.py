"""Exercise `gd_step` (notebook 04): a gradient step on f(x) = 1/2 dist_K(x)^2."""
from __future__ import annotations

import torch

from course_lib.checking import Case, Props, close, exercise
from course_lib.exercises.nb04.probes import probe_K, probe_x
from course_lib.exercises.nb04.proj_K import proj_K


# <solution cell>
def gd_step(x: torch.Tensor, K: torch.Tensor, step: float) -> torch.Tensor:
    """x - step * grad f(x) with f = 1/2 dist_K^2, grad f(x) = x - proj_K(x)."""
    ### BEGIN SOLUTION
    return x - step * (x - proj_K(x, K))
    ### END SOLUTION
# </solution cell>


def cases() -> dict[str, Case]:
    K, x = probe_K(), probe_x()
    return {"half": Case((x, K, 0.5)), "full": Case((x, K, 1.0)), "zero": Case((x, K, 0.0))}


PROPS = Props()


@PROPS("a full step (size 1) lands on the projection",
       "the gradient of 1/2 dist_K(x)^2 is x - proj_K(x); step against it")
def _full(outs, refs):
    K, x = probe_K(), probe_x()
    diff = (outs["full"].value - proj_K(x, K)).abs().max().item()
    return diff < 1e-6, f"step 1 lands on proj_K(x): max diff {diff:.1e}"


BUGS = {
    "ascent": lambda x, K, st: x + st * (x - proj_K(x, K)),
    "steps towards the mean": lambda x, K, st: x - st * (x - K.mean(0)),
    "scales the point": lambda x, K, st: x - st * proj_K(x, K),
}

PROPS("matches the reference for sizes 0.5 and 0",
      "x - step * (x - proj_K(x))",
      close("half", "zero"))

EXERCISE = exercise(globals(), points=1, summary="a gradient step on 1/2 dist_K(x)^2")
