"""Exercise `gd_step` (notebook 04): a gradient step on f(x) = 1/2 dist_K(x)^2."""
from __future__ import annotations

import torch

from course_lib.checking import Case, Props, close, equals, exercise
from course_lib.exercises.common import pick
from course_lib.exercises.nb04.probes import probe_K, probe_x
from course_lib.exercises.nb04.proj_K import proj_K


# <solution cell>
def gd_step(x: torch.Tensor, K: torch.Tensor, step: float) -> torch.Tensor:
    """One gradient-descent step of size `step` on f = 1/2 dist_K^2 (section 4) from each
    row of x; your proj_K may help. x: (B, D), K: (N, D) -> (B, D)"""
    ### BEGIN SOLUTION
    return x - step * (x - proj_K(x, K))
    ### END SOLUTION
# </solution cell>


def cases() -> dict[str, Case]:
    K, x = probe_K(), probe_x()
    return {"half": Case((x, K, pick(130, 0.5, 0.3, 0.7, 0.25))), "full": Case((x, K, 1.0)),
            "zero": Case((x, K, 0.0)),
            "3d_f64": Case((probe_x(5, 3, 131, dtype=torch.float64),
                            probe_x(6, 3, 132, 1.0, dtype=torch.float64),
                            pick(133, 0.25, 0.6, 0.9))),
            "batch1": Case((probe_x(1, 2, 134), K, pick(135, 0.8, 0.4, 0.15)))}


PROPS = Props()


PROPS("""a full step (size 1) lands on the projection

      the gradient of half the squared distance points from the projection to x; a descent step
      goes against it, and a step of size 1 goes all the way to the projection

      code: grad f is x minus proj_K(x, K); subtract step times it from x""",
      equals(cases, "full", lambda x, K, gam: proj_K(x, K), "proj_K(x)", atol=1e-6))


def _step_in_place(x, K, st):
    return x.sub_(st * (x - proj_K(x, K)))


BUGS = {
    "ascent": lambda x, K, st: x + st * (x - proj_K(x, K)),
    "steps towards the mean": lambda x, K, st: x - st * (x - K.mean(0)),
    "scales the point": lambda x, K, st: x - st * proj_K(x, K),
    "[held] step 1 always (jumps to the projection)": lambda x, K, st: proj_K(x, K),
    "[alias] returns x itself when the step is 0":
        lambda x, K, st: x if st == 0 else x - st * (x - proj_K(x, K)),
    "[alias] steps x in place": _step_in_place,
    "[dtype] computes in float32": lambda x, K, st: x.float() - st * (x - proj_K(x, K)).float(),
}
ALTERNATIVES = {
    "(1 - step) x + step proj_K(x)": lambda x, K, st: (1 - st) * x + st * proj_K(x, K),
    "torch.lerp": lambda x, K, st: torch.lerp(x, proj_K(x, K), st),
}

PROPS("""matches the reference for other step sizes, in 3-d and for a batch of 1

      a step of size s moves x the fraction s of the way towards its projection, for any s, in
      any dimension, for any batch

      code: use your proj_K with the K given; torch.lerp(x, proj_K(x, K), step) is one way""",
      close("half", "zero", "batch1"))

PROPS("""keeps float64 inputs in float64

      compute with the tensors you are given, without casts

      code: no .float() on x or on the projection""",
      close("3d_f64", atol=1e-12, rtol=1e-12))

EXERCISE = exercise(globals(), points=1, summary="a gradient step on 1/2 dist_K(x)^2",
                    reread=r"4. DDIM is gradient descent on $\tfrac12\,\text{dist}_K^2$")
