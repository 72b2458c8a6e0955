"""Exercise `ge_direction` (notebook 04): the gradient-estimation direction (Algorithm 3)."""
from __future__ import annotations

import torch

from course_lib.checking import Case, Props, close, exercise
from course_lib.exercises.common import gen


# <solution cell>
def ge_direction(eps_hat: torch.Tensor, eps_prev, gam: float) -> torch.Tensor:
    """gam * eps_hat + (1 - gam) * eps_prev, or eps_hat when eps_prev is None."""
    ### BEGIN SOLUTION
    if eps_prev is None:
        return eps_hat
    return gam * eps_hat + (1 - gam) * eps_prev
    ### END SOLUTION
# </solution cell>


def cases() -> dict[str, Case]:
    g = gen(34)
    e, p = torch.randn(5, 2, generator=g), torch.randn(5, 2, generator=g)
    return {"g2": Case((e, p, 2.0)), "g1": Case((e, p, 1.0)), "first": Case((e, None, 2.0)),
            "g_half": Case((e, p, 0.5))}


PROPS = Props()


@PROPS("first step (no eps_prev) returns eps_hat",
       "if eps_prev is None: return eps_hat")
def _first(outs, refs):
    e = cases()["first"].args[0]
    ok = torch.equal(outs["first"].value, e)
    return ok, "with no previous eps_hat, returns eps_hat" if ok else "first step changed eps_hat"


@PROPS("gam = 2 extrapolates: 2 eps_hat - eps_prev",
       "gam multiplies the current eps_hat, 1 - gam the previous one")
def _extrapolates(outs, refs):
    e, p = cases()["g2"].args[:2]
    diff = (outs["g2"].value - (2 * e - p)).abs().max().item()
    return diff < 1e-6, f"gam = 2: max |yours - (2 eps_hat - eps_prev)| = {diff:.1e}"


BUGS = {
    "roles swapped": lambda e, p, g: e if p is None else g * p + (1 - g) * e,
    "no first-step case": lambda e, p, g: g * e + (1 - g) * p,
    "average": lambda e, p, g: e if p is None else (e + p) / 2,
}

PROPS("matches the reference at gam = 1 and 0.5",
      "gam * eps_hat + (1 - gam) * eps_prev",
      close("g1", "g_half"))

EXERCISE = exercise(globals(), points=2, summary="the gradient-estimation direction")
