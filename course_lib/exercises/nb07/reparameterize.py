"""Exercise `reparameterize` (notebook 07): sample from N(mean, exp(logvar)) differentiably."""
from __future__ import annotations

import torch

from course_lib.checking import Case, Props, close, exercise
from course_lib.exercises.common import gen, pick


# <solution cell>
def reparameterize(mean: torch.Tensor, logvar: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
    """z = mean + exp(logvar / 2) * eps."""
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


@PROPS("eps = 0 gives the mean",
       "z = mean + std * eps")
def _rep_eps0(outs, refs):
    m = cases()["eps0"].args[0]
    diff = (outs["eps0"].value - m).abs().max().item()
    return diff < 1e-6, f"eps = 0 must give the mean: max diff {diff:.1e}"


@PROPS("logvar = 0 gives mean + eps",
       "std = exp(logvar / 2): logvar is log(std^2)")
def _rep_unit(outs, refs):
    m, _, e = cases()["logvar0"].args
    diff = (outs["logvar0"].value - (m + e)).abs().max().item()
    return diff < 1e-6, f"logvar = 0 (std 1) must give mean + eps: max diff {diff:.1e}"


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

PROPS("matches the reference",
      "the standard deviation is the square root of the variance exp(logvar)",
      close("random"))

PROPS("matches the reference in float64, for another shape",
      "one formula, element by element, whatever the shape, in the inputs' dtype",
      close("float64", atol=1e-12, rtol=1e-10))

PROPS("matches the reference for a single sample",
      "one formula, element by element, whatever the batch size",
      close("grad_logvar"))

EXERCISE = exercise(globals(), points=2, summary="sample from N(mean, exp(logvar)) differentiably")
