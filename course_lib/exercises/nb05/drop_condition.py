"""Exercise `drop_condition` (notebook 05): replace each label by NULL with probability p."""
from __future__ import annotations

import torch

from course_lib.checking import Case, Props, close, exercise
from course_lib.exercises.common import gen, pick
from course_lib.guidance import N_CLASSES, NULL


# <solution cell>
def drop_condition(labels: torch.Tensor, p: float, generator=None) -> torch.Tensor:
    """Each label replaced by NULL with probability p; the input is not modified."""
    ### BEGIN SOLUTION
    drop = torch.rand(labels.shape, generator=generator) < p
    return torch.where(drop, torch.full_like(labels, NULL), labels)
    ### END SOLUTION
# </solution cell>


def _labels(n: int = 40, size: int = 20_000) -> torch.Tensor:
    return torch.randint(N_CLASSES, (size,), generator=gen(n))


def cases() -> dict[str, Case]:
    p, p_odd = pick(46, 0.65, 0.35, 0.1, 0.85, 0.5), pick(48, 0.5, 0.3, 0.7, 0.45)
    odd = _labels(47, pick(49, 7, 9, 13))
    return {"p0": Case((_labels(), 0.0, gen(1))),
            "p1": Case((_labels(), 1.0, gen(2))),
            "p02": Case((_labels(), 0.2, gen(3))),
            "p_other": Case((_labels(45, 20_001), p, gen(4))),
            "p_other_same_state": Case((_labels(45, 20_001), p, gen(4))),
            "p_other_other_state": Case((_labels(45, 20_001), p, gen(5))),
            "odd": Case((odd, p_odd, gen(6))),
            "int32": Case((odd.int(), p_odd, gen(7)))}


PROPS = Props()


@PROPS
def _drop_p0(outs, refs):
    """p = 0 keeps every label

    a label is dropped when its uniform random number falls below p, which never happens when p is
    0

    code: drop where torch.rand(labels.shape, generator=generator) < p"""
    ok = torch.equal(outs["p0"].value, _labels())
    return ok, "p = 0 keeps every label" if ok else "p = 0 changed some labels"


@PROPS(f"""p = 1 drops every label to NULL

       at p = 1 every label is dropped (every uniform number is below 1), and a dropped label
       becomes the NULL token, N_CLASSES = {NULL}, the "no condition" row of the embedding, not
       class 0

       code: fill with NULL from course_lib.guidance, e.g. torch.full_like(labels, NULL)""")
def _drop_p1(outs, refs):
    frac = (outs["p1"].value == NULL).float().mean().item()
    return frac == 1.0, f"p = 1: {frac:.1%} of labels are NULL = {NULL}, expected 100%"


@PROPS
def _drop_rate(outs, refs):
    """p = 0.2 drops about 20% and keeps the rest

    one uniform number per label decides whether that label is dropped; the labels not dropped come
    back unchanged

    code: torch.where(drop, nulls, labels) keeps every label that is not dropped"""
    got = outs["p02"].value
    frac = (got == NULL).float().mean().item()
    kept = got != NULL
    same = torch.equal(got[kept], _labels()[kept])
    ok = abs(frac - 0.2) < 0.015 and same
    return ok, (f"p = 0.2: {frac:.1%} dropped (expected 20% +- 1.5%), "
                f"kept labels unchanged: {same}")


@PROPS
def _same_state(outs, refs):
    """the generator decides: the same state gives the same dropout, another state another

    draw every random number from the generator you are given, and from nothing else

    code: pass generator=generator to torch.rand; no torch.manual_seed and no torch.Generator of
    your own"""
    a, b = outs["p_other"].value, outs["p_other_same_state"].value
    c = outs["p_other_other_state"].value
    if not torch.equal(a, b):
        return False, "two generators in the same state gave different dropouts"
    if torch.equal(a, c):
        return False, "generators in different states gave the same dropout"
    return True, "same state, same labels dropped; another state, other labels"


def _drop(labels, p, generator=None, null=NULL, flip=False):
    keep = torch.rand(labels.shape, generator=generator) < p
    if flip:
        keep = ~keep
    return torch.where(keep, torch.full_like(labels, null), labels)


def _reseeds(labels, p, generator=None):
    torch.manual_seed(0)
    return _drop(labels, p)


def _own_generator(labels, p, generator=None):
    return _drop(labels, p, torch.Generator().manual_seed(0))


def _int64_null(labels, p, generator=None):
    drop = torch.rand(labels.shape, generator=generator) < p
    return torch.where(drop, torch.full(labels.shape, NULL), labels)


BUGS = {
    "drops to label 0": lambda lab, p, g=None: _drop(lab, p, g, null=0),
    "keeps with probability p": lambda lab, p, g=None: _drop(lab, p, g, flip=True),
    "in place": lambda lab, p, g=None: lab.masked_fill_(
        torch.rand(lab.shape, generator=g) < p, NULL),
    "ignores the generator": lambda lab, p, g=None: _drop(lab, p),
    "drops where rand > 1 - p (the same rate, another draw)": lambda lab, p, g=None: torch.where(
        torch.rand(lab.shape, generator=g) > 1 - p, torch.full_like(lab, NULL), lab),
    "[held] p = 0.2 hard-coded": lambda lab, p, g=None: _drop(lab, 0.2, g),
    "[alias] returns the labels themselves when p = 0":
        lambda lab, p, g=None: lab if p == 0 else _drop(lab, p, g),
    "[rng] torch.manual_seed inside": _reseeds,
    "[rng] a generator of its own": _own_generator,
    "[dtype] NULL labels built as int64": _int64_null,
}
ALTERNATIVES = {
    "masked_fill (out of place)": lambda lab, p, g=None: lab.masked_fill(
        torch.rand(lab.shape, generator=g) < p, NULL),
    "where with the number NULL": lambda lab, p, g=None: torch.where(
        torch.rand(lab.shape, generator=g) < p, NULL, lab),
    "torch.bernoulli with the generator": lambda lab, p, g=None: torch.where(
        torch.bernoulli(torch.full(lab.shape, p), generator=g).bool(), NULL, lab),
}

PROPS("""with the given generator, drops exactly the reference's labels, for any p

      the course fixes the draw: one uniform number per label, in the labels' shape, from the given
      generator, and a drop where it is below p; other draws with the same rate drop other labels

      code: torch.rand(labels.shape, generator=generator) < p; not rand > 1 - p, randperm or
      bernoulli with other numbers""",
      close("p02", "p_other", "odd"))

PROPS("""keeps the labels' integer dtype (int32 in, int32 out)

      build the NULL labels like the labels you are given, in the same shape and integer dtype

      code: torch.full_like(labels, NULL), not torch.full(labels.shape, NULL), which is int64""",
      close("int32"))

EXERCISE = exercise(globals(), points=2, summary="condition dropout",
                    reread="3. Condition dropout")
