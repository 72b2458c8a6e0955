"""Exercise `reparameterize` (notebook 07): sample from N(mean, exp(logvar)) differentiably."""
from __future__ import annotations

import torch

from course_lib.checking import Case, Props, close, equals, equals_input, exercise
from course_lib.exercises.common import gen, pick


# <solution cell>
def reparameterize(mean: torch.Tensor, logvar: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
    """A draw z from N(mean, exp(logvar)) by section 1's reparameterisation, with the
    standard Gaussian noise eps given. mean, logvar, eps: one shape; returns that shape."""
    ### BEGIN SOLUTION
    return mean + torch.exp(0.5 * logvar) * eps
    ### END SOLUTION
# </solution cell>


def cases() -> dict[str, Case]:
    g = gen(70)
    m, lv, e = (torch.randn(3, 4, 2, 2, generator=g) for _ in range(3))
    h = gen(170)
    shape = pick(170, (5, 3), (1, 7), (3, 2, 5), (1, 4, 3, 3))
    # float64, gradients through the mean and the log-variance (as the VAE's loss needs)
    m64, lv64, e64 = (torch.randn(shape, generator=h, dtype=torch.float64) for _ in range(3))
    # a single sample; only logvar is differentiated: the gradient must reach it through std
    m1, lv1, e1 = (torch.randn(1, 4, 3, 3, generator=h) for _ in range(3))
    return {"random": Case((m, lv, e)), "eps0": Case((m, lv, torch.zeros_like(e))),
            "logvar0": Case((m, torch.zeros_like(lv), e)),
            "float64": Case((m64.requires_grad_(), lv64.requires_grad_(), e64)),
            "grad_logvar": Case((m1, lv1.requires_grad_(), e1))}


PROPS = Props()


PROPS("""eps = 0 gives the mean

      z is the mean moved by the noise, scaled by the standard deviation s: with zero noise z is
      the mean itself

      code: return the mean plus the scaled eps you are given (not torch.randn_like)""",
      equals_input(cases, "eps0", 0, "the mean"))


PROPS("""logvar = 0 gives mean + eps

      logvar is the logarithm of the variance s squared: logvar 0 means s = 1, so the noise enters
      unscaled

      code: s is the exponential of half of logvar: torch.exp of 0.5 times logvar""",
      equals(cases, "logvar0", lambda m, logvar, e: m + e, "mean + eps", atol=1e-6))


def _scales_eps(m, lv, e):
    e *= torch.exp(0.5 * lv)
    e += m
    return e


@torch.no_grad()
def _no_grad(m, lv, e):
    return m + torch.exp(0.5 * lv) * e


BUGS = {
    "exp(logvar) as std": lambda m, lv, e: m + lv.exp() * e,
    "logvar as std": lambda m, lv, e: m + lv * e,
    "returns the mean": lambda m, lv, e: m,
    "[rng] draws its own noise (torch.randn_like) instead of eps":
        lambda m, lv, e: m + torch.exp(0.5 * lv) * torch.randn_like(m),
    "[grad] std detached from logvar": lambda m, lv, e: m + torch.exp(0.5 * lv.detach()) * e,
    "[grad] computes under torch.no_grad()": _no_grad,
    "[alias] scales eps in place": _scales_eps,
    "[dtype] std in float32": lambda m, lv, e: m + torch.exp(0.5 * lv.float()) * e,
}
ALTERNATIVES = {"std = sqrt(exp(logvar))": lambda m, lv, e: m + lv.exp().sqrt() * e}

PROPS("""matches the reference

      the noise is scaled by the standard deviation s, the square root of the variance, not by
      the variance itself nor by its logarithm

      code: the variance is logvar.exp(); s is its square root, which is the exponential of half
      of logvar""",
      close("random"))

PROPS("""matches the reference in float64, for another shape

      one formula, element by element, whatever the shape, in the inputs' dtype; the gradient
      must reach both the mean and logvar

      code: torch.exp on the tensor: no .float(), no math.exp, no .detach(), no torch.no_grad()""",
      close("float64", atol=1e-12, rtol=1e-10))

PROPS("""matches the reference for a single sample

      one formula, element by element, whatever the batch size; only logvar requires grad here,
      and its gradient flows through s

      code: compute s from logvar itself (not logvar.detach()); scale eps out of place (no *= on
      eps)""",
      close("grad_logvar"))

EXERCISE = exercise(globals(), points=2, summary="sample from N(mean, exp(logvar)) differentiably",
                    reread="1. The VAE: an encoder that outputs a distribution")
