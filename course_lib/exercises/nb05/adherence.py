"""Exercise `adherence` (notebook 05): how often samples land on the requested arm."""
from __future__ import annotations

import torch

from course_lib import guidance
from course_lib.checking import Case, Props, close, exercise
from course_lib.exercises.common import gen, pick


# <solution cell>
def adherence(samples: torch.Tensor, target: int, data: torch.Tensor,
              labels: torch.Tensor) -> float:
    """Fraction of samples whose nearest data point has label `target`."""
    ### BEGIN SOLUTION
    nearest = torch.cdist(samples, data).argmin(dim=1)
    return (labels[nearest] == target).float().mean().item()
    ### END SOLUTION
# </solution cell>


def _other_set(n: int, dtype=torch.float32):
    """A labelled set that is not the notebook's: 40 points in the spiral's square [-1, 1]^2
    with random labels, drawn for probe n."""
    g = gen(n)
    data = torch.rand(40, 2, generator=g, dtype=dtype) * 2 - 1
    labels = torch.randint(3, (40,), generator=g)
    labels[:3] = torch.arange(3)  # every label present
    return data, labels, g


def cases() -> dict[str, Case]:
    data, arms, _ = guidance.labelled_spiral()
    g = gen(44)
    target = pick(170, 1, 0, 2)
    on_arm = data[arms == target] + 0.001 * torch.randn(85, 2, generator=g)
    mixed = data[torch.randint(255, (400,), generator=g)] + 0.01 * torch.randn(400, 2, generator=g)
    other, labels, g2 = _other_set(172)
    t2 = pick(173, 2, 0, 1)
    # 21 samples near points of the other set, all labelled t2: adherence 1 there
    mine = torch.nonzero(labels == t2).flatten()
    near = other[mine[torch.randint(len(mine), (21,), generator=g2)]]
    near = near + 0.001 * torch.randn(21, 2, generator=g2)
    cloud = torch.rand(17, 2, generator=g2) * 2 - 1
    other64, labels64, g3 = _other_set(174, torch.float64)
    one = torch.rand(1, 2, generator=g3, dtype=torch.float64) * 2 - 1
    return {"on_arm": Case((on_arm, target, data, arms)),
            "wrong_arm": Case((on_arm, (target + pick(171, 1, 2)) % 3, data, arms)),
            "mixed": Case((mixed, pick(175, 0, 1, 2), data, arms)),
            "other_set": Case((near, t2, other, labels)),
            "other_set_cloud": Case((cloud, t2, other, labels)),
            "one_sample_f64": Case((one, pick(176, 1, 0, 2), other64, labels64))}


PROPS = Props()


@PROPS
def _adh_extremes(outs, refs):
    """1 for points on the target arm, 0 for another target

    a sample counts as a hit when its nearest data point carries the label target; adherence is
    the share of hits among the samples

    code: torch.cdist(samples, data).argmin(dim=1) gives each sample's nearest point; compare
    labels at those indices with target"""
    a, b = float(outs["on_arm"].value), float(outs["wrong_arm"].value)
    return a == 1.0 and b == 0.0, (f"points on the target arm: adherence to it = {a:.2f} "
                                   f"(expected 1), to another arm = {b:.2f} (expected 0)")


@PROPS
def _other(outs, refs):
    """uses the data and labels it is given (a set that is not the notebook's)

    take the nearest point among the data argument and its label from the labels argument, not
    from the notebook's variables

    code: use the parameters data and labels, not guidance.labelled_spiral() or the notebook's
    globals"""
    a = float(outs["other_set"].value)
    return a == 1.0, f"samples next to points labelled {cases()['other_set'].args[1]}: " \
                     f"adherence {a:.2f} (expected 1)"


def _nearest_labels(s, data, labels):
    return labels[torch.cdist(s, data).argmin(1)]


def _notebooks_data(s, t, d, lab):  # the notebook's globals instead of the arguments
    data, arms, _ = guidance.labelled_spiral()
    return (_nearest_labels(s, data, arms) == t).float().mean().item()


BUGS = {
    "labels by sample index": lambda s, t, d, lab: (lab[: len(s)] == t).float().mean().item(),
    "count instead of fraction":
        lambda s, t, d, lab: float((_nearest_labels(s, d, lab) == t).sum()),
    "farthest point":
        lambda s, t, d, lab: (lab[torch.cdist(s, d).argmax(1)] == t).float().mean().item(),
    "[held] the notebook's data and arms, not the arguments": _notebooks_data,
    "[held] argmin without dim (a flat index: right for one sample only)":
        lambda s, t, d, lab: (lab[torch.cdist(s, d).argmin()] == t).float().mean().item(),
    "a one-number tensor, not a Python float":
        lambda s, t, d, lab: (_nearest_labels(s, d, lab) == t).float().mean(),
}
ALTERNATIVES = {
    "squared distances": lambda s, t, d, lab: (
        lab[((s[:, None] - d[None]) ** 2).sum(-1).argmin(1)] == t).float().mean().item(),
    "a count over the length, as Python numbers":
        lambda s, t, d, lab: int((_nearest_labels(s, d, lab) == t).sum()) / len(s),
}

PROPS("""matches the reference on mixed clouds, and for one float64 sample

      a fraction between 0 and 1, the mean of the 0/1 hits, returned as a Python float

      code: .float().mean().item() of the comparison; argmin needs dim=1 (without it the index
      is one flat number)""",
      close("mixed", "other_set_cloud", "one_sample_f64"))

EXERCISE = exercise(globals(), points=1, summary="how often samples land on the requested arm",
                    reread="8. Measuring adherence and diversity")
