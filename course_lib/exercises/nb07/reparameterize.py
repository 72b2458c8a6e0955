"""Exercise `reparameterize` (notebook 07): sample from N(mean, exp(logvar)) differentiably."""
from __future__ import annotations

import torch

from course_lib.checking import Case, Props, close, exercise
from course_lib.exercises.common import gen


# <solution cell>
def reparameterize(mean: torch.Tensor, logvar: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
    """z = mean + exp(logvar / 2) * eps."""
    ### BEGIN SOLUTION
    return mean + torch.exp(0.5 * logvar) * eps
    ### END SOLUTION
# </solution cell>


def cases() -> dict[str, Case]:
    g = gen(70)
    m, lv, e = (torch.randn(3, 4, 2, 2, generator=g) for _ in range(3))
    return {"random": Case((m, lv, e)), "eps0": Case((m, lv, torch.zeros_like(e))),
            "logvar0": Case((m, torch.zeros_like(lv), e))}


PROPS = Props()


@PROPS("eps = 0 gives the mean",
       "z = mean + std * eps")
def _rep_eps0(outs, refs):
    m = cases()["eps0"].args[0]
    diff = (outs["eps0"].value - m).abs().max().item()
    return diff < 1e-6, f"eps = 0 must give the mean: max diff {diff:.1e}"


@PROPS("logvar = 0 gives mean + eps",
       "std = exp(logvar / 2): logvar is log(std^2)")
def _rep_unit(outs, refs):
    m, _, e = cases()["logvar0"].args
    diff = (outs["logvar0"].value - (m + e)).abs().max().item()
    return diff < 1e-6, f"logvar = 0 (std 1) must give mean + eps: max diff {diff:.1e}"


BUGS = {
    "exp(logvar) as std": lambda m, lv, e: m + lv.exp() * e,
    "logvar as std": lambda m, lv, e: m + lv * e,
    "returns the mean": lambda m, lv, e: m,
}

PROPS("matches the reference",
      "exp(0.5 * logvar), not exp(logvar)",
      close("random"))

EXERCISE = exercise(globals(), points=2, summary="sample from N(mean, exp(logvar)) differentiably")
