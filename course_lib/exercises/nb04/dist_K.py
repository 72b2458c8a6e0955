"""Exercise `dist_K` (notebook 04): the distance from each point to a finite set K."""
from __future__ import annotations

import torch

from course_lib.checking import Case, Props, close, exercise
from course_lib.exercises.nb04.probes import set_cases, sq_dists


# <solution cell>
def dist_K(x: torch.Tensor, K: torch.Tensor) -> torch.Tensor:
    """min_k ||x - k|| for each row of x. x: (B, D), K: (N, D) -> (B,)"""
    ### BEGIN SOLUTION
    sq = ((x[:, None, :] - K[None, :, :]) ** 2).sum(-1)  # (B, N)
    return sq.min(dim=1).values.sqrt()
    ### END SOLUTION
# </solution cell>


def cases() -> dict[str, Case]:
    return set_cases()


PROPS = Props()


@PROPS("points of K are at distance 0",
       "take the minimum over K of the distances")
def _on_K(outs, refs):
    got = outs["on_K"].value.abs().max().item()
    return got < 1e-6, f"max dist_K of points of K: {got:.1e}, expected 0"


BUGS = {
    "squared distance": lambda x, K: sq_dists(x, K).min(1).values,
    "mean instead of min": lambda x, K: sq_dists(x, K).sqrt().mean(1),
    "max instead of min": lambda x, K: sq_dists(x, K).sqrt().max(1).values,
}

PROPS("matches the reference in 2-d and 3-d",
      "Euclidean distance (with the square root) to the nearest point: a min over K",
      close("points", "3d"))

EXERCISE = exercise(globals(), points=1, summary="distance to a finite set")
