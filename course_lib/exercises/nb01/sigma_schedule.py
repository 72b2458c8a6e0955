"""Exercise `sigma_schedule` (notebook 01): log-linear noise levels from sigma_max to sigma_min."""
from __future__ import annotations

import math

import numpy as np
import torch

from course_lib.checking import Case, Props, close, exercise
from course_lib.exercises.common import gen, pick


# <solution cell>
def sigma_schedule(sigma_min: float, sigma_max: float, n: int) -> torch.Tensor:
    """n noise levels from sigma_max down to sigma_min, evenly spaced in log sigma. (n,)"""
    ### BEGIN SOLUTION
    return torch.exp(torch.linspace(math.log(sigma_max), math.log(sigma_min), n))
    ### END SOLUTION
# </solution cell>


def cases() -> dict[str, Case]:
    g = gen(14)
    u, v = torch.rand(2, generator=g, dtype=torch.float64).tolist()
    lo, hi, drawn = math.exp(5 * u - 6), math.exp(4 * v + 0.5), int(3 + 37 * u * v)
    return {"small": Case(pick(10, (0.01, 10.0, 8), (0.02, 5.0, 9), (0.005, 20.0, 7))),
            "edm": Case(pick(11, (0.002, 80.0, 50), (0.001, 160.0, 40), (0.02, 14.6, 33))),
            "two": Case(pick(12, (1.0, 2.0, 2), (0.5, 3.0, 2), (2.0, 7.0, 2))),
            "odd": Case(pick(13, (0.03, 3.0, 5), (0.07, 11.0, 3), (0.3, 90.0, 11))),
            "drawn": Case((lo, hi, drawn))}


PROPS = Props()


@PROPS
def _endpoints(outs, refs):
    """starts at sigma_max and ends at sigma_min

    the schedule runs from the most noise to the least, the order a sampler walks it: sigma_max
    comes first and sigma_min last

    code: torch.linspace(a, b, n) starts at a and ends at b: put the sigma_max end first"""
    lo, hi, _ = cases()["small"].args
    s = outs["small"].value
    ok = (math.isclose(s[0].item(), hi, rel_tol=1e-4)
          and math.isclose(s[-1].item(), lo, rel_tol=1e-4))
    return ok, (f"first {s[0].item():.4g} (expected {hi:g}), "
                f"last {s[-1].item():.4g} (expected {lo:g})")


@PROPS
def _constant_ratio(outs, refs):
    """constant ratio between neighbours (even in log sigma)

    space the logarithms of the levels evenly, not the levels themselves: then each level is the
    previous one times the same factor

    code: torch.linspace between math.log of the two ends, then torch.exp; a torch.linspace over
    sigma itself is linear spacing"""
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
    "[held] the notebook's range 0.01 .. 10 whatever is asked":
        lambda lo, hi, n: torch.exp(torch.linspace(math.log(10.0), math.log(0.01), n)),
    "log steps of range / n (stops one step short of sigma_min)": lambda lo, hi, n: torch.exp(
        math.log(hi) - torch.arange(n) * (math.log(hi) - math.log(lo)) / n),
}
ALTERNATIVES = {
    "logspace in base 10": lambda lo, hi, n: torch.logspace(math.log10(hi), math.log10(lo), n),
    "geometric ratio": lambda lo, hi, n: hi * (lo / hi) ** (torch.arange(n) / max(n - 1, 1)),
    "numpy geomspace as float32": lambda lo, hi, n: torch.from_numpy(
        np.geomspace(hi, lo, n)).float(),
}

PROPS("""matches the reference for 8, 50 and 2 levels (and other n, odd ones included)

      n levels include both ends, sigma_max and sigma_min: n points with n - 1 equal steps in
      log sigma between them

      code: torch.linspace(start, end, n) already includes both ends; torch.arange(n) / n stops
      one step short of sigma_min""",
      close("small", "edm", "two", "odd", "drawn"))

EXERCISE = exercise(globals(), points=2,
                    summary="log-linear noise levels from sigma_max to sigma_min",
                    reread="2. Noise levels")
