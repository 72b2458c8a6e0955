"""Exercise `ge_direction` (notebook 04): the gradient-estimation direction (Algorithm 3)."""
from __future__ import annotations

import torch

from course_lib.checking import Case, Props, close, equals, equals_input, exercise
from course_lib.exercises.common import gen, pick


# <solution cell>
def ge_direction(eps_hat: torch.Tensor, eps_prev, gam: float) -> torch.Tensor:
    """The extrapolated direction of section 5 (Algorithm 3) from this step's eps_hat, the previous
    step's eps_prev (None on the first step) and gam. Returns eps_hat's shape."""
    ### BEGIN SOLUTION
    if eps_prev is None:
        return eps_hat
    return gam * eps_hat + (1 - gam) * eps_prev
    ### END SOLUTION
# </solution cell>


def cases() -> dict[str, Case]:
    g = gen(34)
    e, p = torch.randn(5, 2, generator=g), torch.randn(5, 2, generator=g)
    g = gen(136)
    img_e, img_p = (torch.randn(1, 3, 4, 4, generator=g) for _ in range(2))
    e64, p64 = (torch.randn(7, 3, generator=g, dtype=torch.float64) for _ in range(2))
    return {"g2": Case((e, p, 2.0)), "g1": Case((e, p, 1.0)), "first": Case((e, None, 2.0)),
            "g_half": Case((e, p, pick(137, 0.5, 0.3, 1.5, 0.75))),
            "image": Case((img_e, img_p, pick(138, 1.7, 2.5, 0.8))),
            "f64": Case((e64, p64, pick(139, 2.25, 1.4, 3.0)))}


PROPS = Props()


PROPS("""first step (no eps_prev) returns eps_hat

      with no previous prediction there is nothing to mix: the direction is the current
      prediction

      code: if eps_prev is None: return eps_hat""",
      equals_input(cases, "first", 0, "eps_hat", atol=0))


PROPS("""gam = 2 extrapolates past eps_hat, away from eps_prev

      gam weighs the current prediction and one minus gam the previous one, so with gam = 2 the
      previous prediction gets a negative weight and the direction overshoots the current one

      code: the weight gam goes with eps_hat and (1 - gam) with eps_prev, not the other way
      round""",
      equals(cases, "g2", lambda e, p, gam: 2 * e - p, "(2 eps_hat - eps_prev)", atol=1e-6))


BUGS = {
    "roles swapped": lambda e, p, g: e if p is None else g * p + (1 - g) * e,
    "no first-step case": lambda e, p, g: g * e + (1 - g) * p,
    "average": lambda e, p, g: e if p is None else (e + p) / 2,
    "[held] gam = 2 hard-coded": lambda e, p, g: e if p is None else 2 * e - p,
    "[held] first step as eps_prev = 0": lambda e, p, g: g * e + (1 - g) * (
        torch.zeros_like(e) if p is None else p),
    "[alias] returns eps_hat itself when gam = 1":
        lambda e, p, g: e if p is None or g == 1 else g * e + (1 - g) * p,
    "[dtype] computes in float32": lambda e, p, g: e if p is None else (g * e + (1 - g) * p)
    .float(),
}
ALTERNATIVES = {
    "eps_prev + gam (eps_hat - eps_prev)": lambda e, p, g: e if p is None else p + g * (e - p),
    "torch.lerp": lambda e, p, g: e if p is None else torch.lerp(p, e, g),
}

PROPS("""matches the reference at other gam, and for an image batch of 1

      mix the two predictions with weights that add up to 1: gam on the current one, the rest on
      the previous one, for tensors of any shape

      code: torch.lerp(eps_prev, eps_hat, gam) is one way; no hard-coded 2""",
      close("g1", "g_half", "image"))

PROPS("""keeps float64 inputs in float64

      compute with the tensors you are given, without casts

      code: no .float()""",
      close("f64", atol=1e-12, rtol=1e-12))

EXERCISE = exercise(globals(), points=2, summary="the gradient-estimation direction",
                    reread="5. A better sampler: estimate the gradient from two steps")
