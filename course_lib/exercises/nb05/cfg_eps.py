"""Exercise `cfg_eps` (notebook 05): the classifier-free guided noise prediction."""
from __future__ import annotations

import torch

from course_lib.checking import Case, Props, close, equals_input, exercise
from course_lib.exercises.common import gen, pick


# <solution cell>
def cfg_eps(eps_uncond: torch.Tensor, eps_cond: torch.Tensor, w: float) -> torch.Tensor:
    """The guided prediction eps_hat of section 6 in diffusers' convention (w = 1: no
    guidance), from the unconditional and conditional predictions eps_uncond and eps_cond
    (any shape, the same for both). Returns that shape."""
    ### BEGIN SOLUTION
    return eps_uncond + w * (eps_cond - eps_uncond)
    ### END SOLUTION
# </solution cell>


def cases() -> dict[str, Case]:
    g = gen(41)
    u, c = torch.randn(6, 2, generator=g), torch.randn(6, 2, generator=g)
    g = gen(160)
    u1, c1 = (torch.randn(1, 2, generator=g) for _ in range(2))
    img_u, img_c = (torch.randn(3, 4, 5, 5, generator=g, dtype=torch.float64) for _ in range(2))
    return {"w1": Case((u, c, 1.0)), "w0": Case((u, c, 0.0)),
            "w7": Case((u, c, pick(42, 7.5, 3.5, 5.25, 12.5))),
            "batch1": Case((u1, c1, pick(43, 2.5, 1.5, 4.75))),
            "images_f64": Case((img_u, img_c, pick(44, 1.7, 6.3, 0.3)))}  # not float32 numbers


PROPS = Props()


PROPS("""w = 1 gives the conditional prediction

      the guided prediction starts from the unconditional one and moves w times the gap towards
      the conditional one: at w = 1 it is exactly the conditional prediction (diffusers'
      convention, not the one that scales the gap by one plus w)

      code: start from eps_uncond and add w times the difference; a factor (1 + w) belongs to
      the other convention""",
      equals_input(cases, "w1", 1, "eps_cond"))


PROPS("""w = 0 gives the unconditional prediction

      the guided prediction starts from the unconditional one and adds w times the gap between
      the two: at w = 0 nothing is added

      code: start from eps_uncond, not from eps_cond or from 0""",
      equals_input(cases, "w0", 0, "eps_uncond"))


def _adds_in_place(u, c, w):
    return u.add_(w * (c - u))


BUGS = {
    "1 + w convention": lambda u, c, w: u + (1 + w) * (c - u),
    "difference reversed": lambda u, c, w: u + w * (u - c),
    "scales the conditional only": lambda u, c, w: w * c,
    "[held] integer w": lambda u, c, w: u + int(w) * (c - u),
    "[alias] returns eps_cond itself at w = 1":
        lambda u, c, w: c if w == 1 else u + w * (c - u),
    "[alias] adds into eps_uncond in place": _adds_in_place,
    "[dtype] computes in float32": lambda u, c, w: (u + w * (c - u)).float(),
    "[dtype] w rounded to float32":
        lambda u, c, w: u + torch.tensor(w, dtype=torch.float32).item() * (c - u),
}
ALTERNATIVES = {
    "(1 - w) eps_u + w eps_c": lambda u, c, w: (1 - w) * u + w * c,
    "torch.lerp": lambda u, c, w: torch.lerp(u, c, w),
}

PROPS("""matches the reference at other, non-integer w, and for a batch of 1

      the gap points from the unconditional prediction to the conditional one, and is scaled by
      w exactly as given, fractions included

      code: eps_cond - eps_uncond, in that order; no int(w)""",
      close("w7", "batch1"))

PROPS("""keeps float64 inputs in float64, for image-shaped predictions

      compute with the tensors you are given, without casts

      code: no .float()""",
      close("images_f64", atol=1e-12, rtol=1e-12))

EXERCISE = exercise(globals(), points=2, summary="the guided prediction",
                    reread="6. The guided prediction")
