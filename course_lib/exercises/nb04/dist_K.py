"""Exercise `dist_K` (notebook 04): the distance from each point to a finite set K."""
from __future__ import annotations

import torch

from course_lib.checking import Case, Props, close, exercise, is_zero
from course_lib.exercises.nb04.probes import set_cases, sq_dists


# <solution cell>
def dist_K(x: torch.Tensor, K: torch.Tensor) -> torch.Tensor:
    """dist_K of section 1 for each row of x, K being the set of K's rows.
    x: (B, D), K: (N, D) -> (B,)"""
    ### BEGIN SOLUTION
    sq = ((x[:, None, :] - K[None, :, :]) ** 2).sum(-1)  # (B, N)
    return sq.min(dim=1).values.sqrt()
    ### END SOLUTION
# </solution cell>


def cases() -> dict[str, Case]:
    return set_cases()


PROPS = Props()


PROPS("""points of K are at distance 0

      the distance to a set is the distance to its nearest point: a point of the set is at
      distance 0 from itself

      code: take .min(dim=1) over the (B, N) distances, not .mean() or .max()""",
      is_zero("on_K", "the largest dist_K of points of K", atol=1e-6))


def _expanded(x, K):  # |x|^2 - 2 x.k + |k|^2: exact in algebra, cancels in floating point
    sq = (x**2).sum(1)[:, None] - 2 * x @ K.T + (K**2).sum(1)[None]
    return sq.clamp(min=0).min(1).values.sqrt()


BUGS = {
    "squared distance": lambda x, K: sq_dists(x, K).min(1).values,
    "mean instead of min": lambda x, K: sq_dists(x, K).sqrt().mean(1),
    "max instead of min": lambda x, K: sq_dists(x, K).sqrt().max(1).values,
    "L1 distance": lambda x, K: (x[:, None] - K[None]).abs().sum(-1).min(1).values,
    "expanded square (cancels far from the origin)": _expanded,
    "[held] 2-d only (first two coordinates)": lambda x, K: sq_dists(x[:, :2], K[:, :2])
    .min(1).values.sqrt(),
    "[held] squeezes the batch dimension": lambda x, K: sq_dists(x, K).min(1).values.sqrt()
    .squeeze(),
    "[dtype] computes in float32": lambda x, K: sq_dists(x.float(), K.float()).min(1).values
    .sqrt(),
}
ALTERNATIVES = {
    "torch.cdist": lambda x, K: torch.cdist(x, K).min(1).values,
    "norm of the differences": lambda x, K: (x[:, None] - K[None]).norm(dim=-1).min(1).values,
}

PROPS("""matches the reference in 2-d, 3-d and 4-d, for a batch of 1

      the Euclidean distance, square root included, to the nearest point of K: a minimum over K,
      one value per row of x, using every coordinate

      code: x[:, None, :] - K[None, :, :] is (B, N, D): sum the squares over the last dim, take
      the min over dim 1, then .sqrt(); no .squeeze() for a batch of 1""",
      close("points", "3d", "batch1"))

PROPS("""Euclidean, not L1: the nearest point on a diagonal wins

      the distance is the square root of the sum of squared coordinate differences, not the sum
      of their absolute values

      code: ** 2, .sum(-1), then .sqrt(); or torch.cdist, or .norm(dim=-1)""",
      close("euclid"))

PROPS("""accurate far from the origin (coordinates near 10^4)

      subtract first, then square: expanding the squared distance into two squared norms and a
      dot product cancels large numbers against each other

      code: form the differences x[:, None] - K[None] before squaring; avoid |x|^2 - 2 x @ K.T +
      |k|^2""",
      close("far", atol=1e-4, rtol=1e-4))

PROPS("""keeps float64 inputs in float64

      compute with the tensors you are given, without casts

      code: no .float() on x or K""",
      close("f64", atol=1e-10, rtol=1e-10))

EXERCISE = exercise(globals(), points=1, summary="distance to a finite set",
                    reread="1. Distance and projection to a finite set")
