"""Exercise `sigma_schedule` (notebook 01): log-linear noise levels from sigma_max to sigma_min."""
from __future__ import annotations

import math

import numpy as np
import torch

from course_lib.checking import Case, Props, close, exercise


# <solution cell>
def sigma_schedule(sigma_min: float, sigma_max: float, n: int) -> torch.Tensor:
    """n noise levels from sigma_max down to sigma_min, evenly spaced in log sigma. (n,)"""
    ### BEGIN SOLUTION
    return torch.exp(torch.linspace(math.log(sigma_max), math.log(sigma_min), n))
    ### END SOLUTION
# </solution cell>


def cases() -> dict[str, Case]:
    return {"small": Case((0.01, 10.0, 8)), "edm": Case((0.002, 80.0, 50)),
            "two": Case((1.0, 2.0, 2))}


PROPS = Props()


@PROPS("starts at sigma_max and ends at sigma_min",
       "the schedule runs from the most noise to the least: sigma_max first")
def _endpoints(outs, refs):
    s = outs["small"].value
    ok = (math.isclose(s[0].item(), 10.0, rel_tol=1e-4)
          and math.isclose(s[-1].item(), 0.01, rel_tol=1e-4))
    return ok, f"first {s[0].item():.4g} (expected 10), last {s[-1].item():.4g} (expected 0.01)"


@PROPS("constant ratio between neighbours (even in log sigma)",
       "space log(sigma) evenly: exp(linspace(log(sigma_max), log(sigma_min), n))")
def _constant_ratio(outs, refs):
    s = outs["edm"].value.double()
    ratio = s[1:] / s[:-1]
    spread = (ratio.max() - ratio.min()).item()
    return spread < 1e-4, f"sigma[i+1]/sigma[i] ranges over {ratio.min():.4f}..{ratio.max():.4f}"


BUGS = {
    "linear spacing": lambda lo, hi, n: torch.linspace(hi, lo, n),
    "increasing order": lambda lo, hi, n: torch.exp(torch.linspace(math.log(lo), math.log(hi), n)),
    "off by one (n + 1 levels)": lambda lo, hi, n: torch.exp(
        torch.linspace(math.log(hi), math.log(lo), n + 1)),
    "float64 from numpy": lambda lo, hi, n: torch.tensor(np.geomspace(hi, lo, n)),
}

PROPS("matches the reference for 8, 50 and 2 levels",
      "n levels includes both ends: torch.linspace(a, b, n) has n points",
      close("small", "edm", "two"))

EXERCISE = exercise(globals(), points=2,
                    summary="log-linear noise levels from sigma_max to sigma_min")
