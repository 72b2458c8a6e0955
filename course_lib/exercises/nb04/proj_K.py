"""Exercise `proj_K` (notebook 04): the nearest point of a finite set K."""
from __future__ import annotations

import torch

from course_lib.checking import Case, Props, close, exercise
from course_lib.exercises.nb04.probes import probe_K, set_cases, sq_dists


# <solution cell>
def proj_K(x: torch.Tensor, K: torch.Tensor) -> torch.Tensor:
    """The nearest point of K for each row of x. x: (B, D), K: (N, D) -> (B, D)"""
    ### BEGIN SOLUTION
    sq = ((x[:, None, :] - K[None, :, :]) ** 2).sum(-1)  # (B, N)
    return K[sq.argmin(dim=1)]
    ### END SOLUTION
# </solution cell>


def cases() -> dict[str, Case]:
    return set_cases()


PROPS = Props()


@PROPS("points of K project to themselves",
       "argmin of the distance, not argmax")
def _on_K(outs, refs):
    K = probe_K()
    ok = torch.equal(outs["on_K"].value, K[[3, 0, 6]])
    return ok, "points of K project to themselves" if ok else "a point of K moved"


@PROPS("returns points of K",
       "index K with the argmin over K")
def _in_K(outs, refs):
    K, got = probe_K(), outs["points"].value
    member = (torch.cdist(got, K).min(dim=1).values < 1e-6).all().item()
    return member, "every projection is a point of K" if member else "a result is not in K"


BUGS = {
    "argmax": lambda x, K: K[sq_dists(x, K).argmax(1)],
    "soft average": lambda x, K: torch.softmax(-sq_dists(x, K), 1) @ K,
    "returns x": lambda x, K: x,
}

PROPS("matches the reference in 2-d and 3-d",
      "K[dists.argmin(dim=1)] with dists of shape (B, N)",
      close("points", "3d"))

EXERCISE = exercise(globals(), points=1, summary="nearest point of a finite set")
