"""Exercise `proj_K` (notebook 04): the nearest point of a finite set K."""
from __future__ import annotations

import torch

from course_lib.checking import Case, Props, close, exercise
from course_lib.exercises.nb04.probes import probe_K, set_cases, sq_dists


# <solution cell>
def proj_K(x: torch.Tensor, K: torch.Tensor) -> torch.Tensor:
    """proj_K of section 1 for each row of x, K being the set of K's rows.
    x: (B, D), K: (N, D) -> (B, D)"""
    ### BEGIN SOLUTION
    sq = ((x[:, None, :] - K[None, :, :]) ** 2).sum(-1)  # (B, N)
    return K[sq.argmin(dim=1)]
    ### END SOLUTION
# </solution cell>


def cases() -> dict[str, Case]:
    return set_cases()


PROPS = Props()


@PROPS
def _on_K(outs, refs):
    """points of K project to themselves

    the projection is the nearest point of K, the one at the smallest distance; a point of K is
    its own nearest point

    code: argmin, not argmax, over dim 1 of the (B, N) distances"""
    K = probe_K()
    ok = torch.equal(outs["on_K"].value, K[[3, 0, 6]])
    return ok, "points of K project to themselves" if ok else "a point of K moved"


@PROPS
def _in_K(outs, refs):
    """returns points of K

    the result is made of rows of K, one per row of x: not a blend of them, and not x itself

    code: index K with the (B,) indices of the nearest points: K[idx]"""
    for name, case in cases().items():
        got, K = outs[name].value, case.args[1].to(outs[name].value.dtype)
        if not bool((torch.cdist(got, K).min(dim=1).values <= 1e-6 * (1 + K.abs().max())).all()):
            return False, f"case '{name}': a result is not a point of K"
    return True, "every projection is a point of K"


def _nearest(x, K, dists):
    return K[dists.argmin(1)]


BUGS = {
    "argmax": lambda x, K: K[sq_dists(x, K).argmax(1)],
    "soft average": lambda x, K: torch.softmax(-sq_dists(x, K), 1) @ K,
    "returns x": lambda x, K: x,
    "L1 distance": lambda x, K: _nearest(x, K, (x[:, None] - K[None]).abs().sum(-1)),
    "[held] 2-d only (first two coordinates)":
        lambda x, K: _nearest(x, K, sq_dists(x[:, :2], K[:, :2])),
    "[held] squeezes the batch dimension": lambda x, K: K[sq_dists(x, K).argmin(1).squeeze()],
    "[dtype] computes in float32": lambda x, K: _nearest(x, K.float(), sq_dists(x, K)),
}
ALTERNATIVES = {
    "torch.cdist": lambda x, K: K[torch.cdist(x, K).argmin(1)],
    "index_select": lambda x, K: K.index_select(0, sq_dists(x, K).argmin(1)),
}

PROPS("""matches the reference in 2-d, 3-d and 4-d, for a batch of 1, far from the origin

      one row of K per row of x, the one at the smallest distance, measured over every
      coordinate

      code: sum the squared differences of the (B, N, D) broadcast over the last dim, argmin
      over dim 1, index K with it; no .squeeze() for a batch of 1""",
      close("points", "3d", "batch1", "far"))

PROPS("""Euclidean, not L1: the nearest point on a diagonal wins

      the distance is the square root of the sum of squared coordinate differences, not the sum
      of their absolute values

      code: squared differences summed with .sum(-1) (or torch.cdist), not .abs().sum(-1)""",
      close("euclid"))

PROPS("""keeps float64 inputs in float64

      the result is made of K's own rows, in K's own dtype

      code: no .float() on K: index the K you are given""",
      close("f64", atol=0, rtol=0))

EXERCISE = exercise(globals(), points=1, summary="nearest point of a finite set",
                    reread="1. Distance and projection to a finite set")
