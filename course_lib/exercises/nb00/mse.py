"""Exercise `mse` (notebook 00): mean squared error between two tensors."""
from __future__ import annotations

import torch

from course_lib.checking import Case, Props, close, exercise


# <solution cell>
def mse(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Mean squared error: the mean over every element of (a - b)^2, a 0-dim tensor."""
    ### BEGIN SOLUTION
    return ((a - b) ** 2).mean()
    ### END SOLUTION
# </solution cell>


def cases() -> dict[str, Case]:
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(8, 2, generator=g), torch.randn(8, 2, generator=g)
    c, d = torch.randn(4, 3, 5, generator=g), torch.randn(4, 3, 5, generator=g)
    return {"batch": Case((a, b)), "same": Case((a, a.clone())), "3d": Case((c, d))}


PROPS = Props()


@PROPS("is 0 when both inputs are equal",
       "compare a with b itself: (a - b) is 0 everywhere when a equals b")
def _zero_for_same(outs, refs):
    got = float(outs["same"].value)
    return got == 0.0, f"mse(a, a) = {got:.3g}, expected 0"


BUGS = {
    "sum instead of mean": lambda a, b: ((a - b) ** 2).sum(),
    "no square (mean absolute error)": lambda a, b: (a - b).abs().mean(),
    "root mean square": lambda a, b: ((a - b) ** 2).mean().sqrt(),
    "mean over one dimension only": lambda a, b: ((a - b) ** 2).mean(dim=0),
    "forgot return": lambda a, b: None,
}

PROPS("matches the reference on an (8, 2) batch",
      "square each difference, then average: mean, not sum; no square root",
      close("batch"))

PROPS("averages over every element of a (4, 3, 5) tensor",
      "take .mean() over all elements, not over one dimension",
      close("3d"))

EXERCISE = exercise(globals(), points=1, summary="mean squared error between two tensors")
