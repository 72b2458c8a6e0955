"""Exercise `drop_condition` (notebook 05): replace each label by NULL with probability p."""
from __future__ import annotations

import torch

from course_lib.checking import Case, Props, close, exercise
from course_lib.guidance import N_CLASSES, NULL


# <solution cell>
def drop_condition(labels: torch.Tensor, p: float, generator=None) -> torch.Tensor:
    """Each label replaced by NULL with probability p; the input is not modified."""
    ### BEGIN SOLUTION
    drop = torch.rand(labels.shape, generator=generator) < p
    return torch.where(drop, torch.full_like(labels, NULL), labels)
    ### END SOLUTION
# </solution cell>


def _labels():
    return torch.randint(N_CLASSES, (20_000,), generator=torch.Generator().manual_seed(40))


def cases() -> dict[str, Case]:
    return {"p0": Case((_labels(), 0.0, torch.Generator().manual_seed(1))),
            "p1": Case((_labels(), 1.0, torch.Generator().manual_seed(2))),
            "p02": Case((_labels(), 0.2, torch.Generator().manual_seed(3)))}


PROPS = Props()


@PROPS("p = 0 keeps every label",
       "drop where rand < p: never when p = 0")
def _drop_p0(outs, refs):
    ok = torch.equal(outs["p0"].value, _labels())
    return ok, "p = 0 keeps every label" if ok else "p = 0 changed some labels"


@PROPS("p = 1 drops every label to NULL",
       f"a dropped label becomes NULL = N_CLASSES = {NULL}, not 0")
def _drop_p1(outs, refs):
    frac = (outs["p1"].value == NULL).float().mean().item()
    return frac == 1.0, f"p = 1: {frac:.1%} of labels are NULL = {NULL}, expected 100%"


@PROPS("p = 0.2 drops about 20% and keeps the rest",
       "one uniform number per label (torch.rand(labels.shape, generator=...)); "
       "torch.where(drop, NULL, labels) keeps the others")
def _drop_rate(outs, refs):
    got = outs["p02"].value
    frac = (got == NULL).float().mean().item()
    kept = got != NULL
    same = torch.equal(got[kept], _labels()[kept])
    ok = abs(frac - 0.2) < 0.015 and same
    return ok, (f"p = 0.2: {frac:.1%} dropped (expected 20% +- 1.5%), "
                f"kept labels unchanged: {same}")


def _drop(labels, p, generator=None, null=NULL, flip=False):
    keep = torch.rand(labels.shape, generator=generator) < p
    if flip:
        keep = ~keep
    return torch.where(keep, torch.full_like(labels, null), labels)


BUGS = {
    "drops to label 0": lambda lab, p, g=None: _drop(lab, p, g, null=0),
    "keeps with probability p": lambda lab, p, g=None: _drop(lab, p, g, flip=True),
    "in place": lambda lab, p, g=None: lab.masked_fill_(
        torch.rand(lab.shape, generator=g) < p, NULL),
    "ignores the generator": lambda lab, p, g=None: _drop(lab, p),
}

PROPS("with the given generator, drops exactly the reference's labels",
      "draw torch.rand(labels.shape, generator=generator) once and drop where it "
      "is < p, so that a seed reproduces the same dropout",
      close("p02"))

EXERCISE = exercise(globals(), points=2, summary="condition dropout")
