"""Exercise `adherence` (notebook 05): how often samples land on the requested arm."""
from __future__ import annotations

import torch

from course_lib import guidance
from course_lib.checking import Case, Props, close, exercise


# <solution cell>
def adherence(samples: torch.Tensor, target: int, data: torch.Tensor,
              labels: torch.Tensor) -> float:
    """Fraction of samples whose nearest data point has label `target`."""
    ### BEGIN SOLUTION
    nearest = torch.cdist(samples, data).argmin(dim=1)
    return (labels[nearest] == target).float().mean().item()
    ### END SOLUTION
# </solution cell>


def cases() -> dict[str, Case]:
    data, arms, _ = guidance.labelled_spiral()
    g = torch.Generator().manual_seed(44)
    on_arm = data[arms == 1] + 0.001 * torch.randn(85, 2, generator=g)
    mixed = data[torch.randint(255, (400,), generator=g)] + 0.01 * torch.randn(400, 2, generator=g)
    return {"on_arm": Case((on_arm, 1, data, arms)), "wrong_arm": Case((on_arm, 2, data, arms)),
            "mixed": Case((mixed, 0, data, arms))}


PROPS = Props()


@PROPS("1 for points on the target arm, 0 for another target",
       "look up the label of each sample's nearest data point and compare with target")
def _adh_extremes(outs, refs):
    a, b = float(outs["on_arm"].value), float(outs["wrong_arm"].value)
    return a == 1.0 and b == 0.0, (f"points on arm 1: adherence to arm 1 = {a:.2f} (expected 1),"
                                   f" to arm 2 = {b:.2f} (expected 0)")


def _nearest_labels(s, data, labels):
    return labels[torch.cdist(s, data).argmin(1)]


BUGS = {
    "labels by sample index": lambda s, t, d, lab: (lab[: len(s)] == t).float().mean().item(),
    "count instead of fraction":
        lambda s, t, d, lab: float((_nearest_labels(s, d, lab) == t).sum()),
    "farthest point":
        lambda s, t, d, lab: (lab[torch.cdist(s, d).argmax(1)] == t).float().mean().item(),
}

PROPS("matches the reference on a mixed cloud",
      "a fraction between 0 and 1 (a mean of 0/1 values), returned as a float",
      close("mixed"))

EXERCISE = exercise(globals(), points=1, summary="how often samples land on the requested arm")
