"""Exercise `dpm_2m_step` (notebook 11): DPM-Solver++(2M)'s second-order multistep update in
the sigma view, which corrects the data guess with the previous step's guess."""
from __future__ import annotations

import torch

from course_lib.checking import Case, Props, close, equals, exercise
from course_lib.exercises.common import gen, pick
from course_lib.exercises.nb11.dpm_first_order_step import dpm_first_order_step
from course_lib.exercises.nb11.probes import diffusers_step, sd_case, triple


# <solution cell>
def dpm_2m_step(x: torch.Tensor, x0_hat: torch.Tensor, x0_prev: torch.Tensor,
                sigma_prev: torch.Tensor, sigma: torch.Tensor,
                sigma_next: torch.Tensor) -> torch.Tensor:
    """The state at noise level sigma_next reached from x at level sigma by section 3's
    second-order multistep update: x0_hat is the data guess at sigma, x0_prev the one made at
    the previous step's level sigma_prev. x, x0_hat, x0_prev: (B, *D); sigma_prev > sigma >
    sigma_next > 0, 0-dim tensors. Returns (B, *D)."""
    ### BEGIN SOLUTION
    lam_prev, lam, lam_next = -torch.log(sigma_prev), -torch.log(sigma), -torch.log(sigma_next)
    h, h_prev = lam_next - lam, lam - lam_prev      # this step and the previous one, in lambda
    r = h_prev / h
    d = x0_hat + (x0_hat - x0_prev) / (2 * r)       # the data guess, corrected
    return dpm_first_order_step(x, d, sigma, sigma_next)  # your answer above
    ### END SOLUTION
# </solution cell>


def _inputs(g: torch.Generator, shape, dtype=torch.float32) -> tuple[torch.Tensor, ...]:
    x0 = torch.randn(shape, generator=g, dtype=dtype)
    drift = 0.3 * torch.randn(shape, generator=g, dtype=dtype)
    return 3 * torch.randn(shape, generator=g, dtype=dtype), x0, x0 - drift


def cases() -> dict[str, Case]:
    g = gen(1121)
    x, x0, x0_prev = _inputs(g, (7, 2))
    img = _inputs(g, (2, 3, 4, 4))
    (sd_prev, sd, sd_next), _, _ = sd_case(1122)
    h = gen(1123)
    b = pick(1124, 5, 3, 9)
    x64, x064, xp64 = _inputs(h, (b, 2), torch.float64)
    even = torch.tensor(pick(1125, 2.0, 1.5, 3.0))
    return {
        "points": Case((x, x0, x0_prev, *triple(1126))),
        "images": Case((*img, *triple(1127))),
        "one image": Case((*(t[:1].clone() for t in img), *triple(1128))),
        "same guesses": Case((x.clone(), x0.clone(), x0.clone(), *triple(1129))),
        "even steps in lambda": Case((x.clone(), x0.clone(), x0_prev.clone(),
                                      even**2, even, torch.tensor(1.0))),
        "SD's levels": Case((x.clone(), x0.clone(), x0_prev.clone(), sd_prev, sd, sd_next)),
        "float64": Case((x64, x064.requires_grad_(), xp64, *triple(1130, torch.float64))),
    }


PROPS = Props()


PROPS("""with the same guess at both levels it is the first-order step

      the correction extrapolates the change of the data guess from one level to the next; when
      the guess has not changed there is nothing to extrapolate

      code: the corrected guess is the current guess plus a multiple of the difference between the
      current and the previous guess""",
      equals(cases, "same guesses", lambda x, x0, x0_prev, sigma_prev, sigma, sigma_next:
             dpm_first_order_step(x, x0, sigma, sigma_next), "the first-order step"))


PROPS("""with even steps in lambda the correction is half the change of the guess

      with r = 1 the guess moves on by half of its last change, in the direction it was already
      moving

      code: 1 / (2 r) times (x0_hat - x0_prev), added to x0_hat""",
      equals(cases, "even steps in lambda",
             lambda x, x0, x0_prev, sigma_prev, sigma, sigma_next: dpm_first_order_step(
                 x, 1.5 * x0 - 0.5 * x0_prev, sigma, sigma_next),
             "the step with 3/2 x0_hat - 1/2 x0_prev"))


PROPS("""equals diffusers' DPMSolverMultistepScheduler's second-order update (SD's levels)

      diffusers' update (algorithm dpmsolver++, order 2, the midpoint form) on DDPM's scale,
      brought back to the sigma view, is the same step

      code: r is the previous step's size in lambda divided by this step's size""",
      equals(cases, "SD's levels", lambda x, x0, x0_prev, *_: diffusers_step(
          x.double(), x0.double(), x0_prev.double(), *sd_case(1122)[1:]),
          "diffusers (which works in float32)", atol=1e-4))


PROPS("""matches the reference on points, images, a batch of one and uneven steps

      the corrected guess leans further from the previous guess when the previous step was short
      compared with this one, and less when it was long

      code: r = h_prev / h with h = lambda_next - lambda and h_prev = lambda - lambda_prev; the
      corrected guess goes into your first-order step in place of x0_hat""",
      close("points", "images", "one image"))

PROPS("""keeps float64 precision

      the steps in lambda and their ratio are computed in the levels' own dtype

      code: no float(...) round trip through torch.tensor, no .float()""",
      close("float64", atol=1e-12, rtol=1e-12))


def _update(lam=lambda s: -torch.log(s), ratio=lambda h_prev, h: h_prev / h,
            correct=lambda x0, x0p, r: x0 + (x0 - x0p) / (2 * r)):
    """The update with one rule changed."""
    def step(x, x0_hat, x0_prev, sigma_prev, sigma, sigma_next):
        h, h_prev = lam(sigma_next) - lam(sigma), lam(sigma) - lam(sigma_prev)
        d = correct(x0_hat, x0_prev, ratio(h_prev, h))
        return torch.exp(-h) * x + (1 - torch.exp(-h)) * d
    return step


def _sigma_gaps(x, x0_hat, x0_prev, sigma_prev, sigma, sigma_next):
    r = (sigma_prev - sigma) / (sigma - sigma_next)
    return dpm_first_order_step(x, x0_hat + (x0_hat - x0_prev) / (2 * r), sigma, sigma_next)


def _in_place(x, x0_hat, x0_prev, sigma_prev, sigma, sigma_next):
    r = torch.log(sigma_prev / sigma) / torch.log(sigma / sigma_next)
    d = x0_hat.add_((x0_hat - x0_prev) / (2 * r))
    return dpm_first_order_step(x, d, sigma, sigma_next)


def _no_grad(*args):
    with torch.no_grad():
        return _update()(*args)


BUGS = {
    "wrong lambda sign: lambda = log sigma": _update(lam=torch.log),
    "r upside down: h / h_prev": _update(ratio=lambda h_prev, h: h / h_prev),
    "the first-order step: x0_prev ignored": _update(correct=lambda x0, x0p, r: x0),
    "the correction's sign flipped (x0_prev - x0_hat)":
        _update(correct=lambda x0, x0p, r: x0 + (x0p - x0) / (2 * r)),
    "the whole change, not half (1 / r)": _update(correct=lambda x0, x0p, r: x0 + (x0 - x0p) / r),
    "r from the gaps in sigma, not in lambda": _sigma_gaps,
    "[held] r = 1: the previous step's size not used": _update(ratio=lambda h_prev, h: 1.0),
    "[dtype] the levels rebuilt in float32": lambda x, a, b, sp, s, sn: _update()(
        x, a, b, *(torch.tensor(float(v)) for v in (sp, s, sn))),
    "[grad] under torch.no_grad()": _no_grad,
    "[alias] corrects x0_hat in place": _in_place,
}


def _diffusers_form(x, x0_hat, x0_prev, sigma_prev, sigma, sigma_next):
    """diffusers' midpoint form, with D1 = (x0_hat - x0_prev) / r, divided by alpha_next."""
    h = torch.log(sigma) - torch.log(sigma_next)
    r = (torch.log(sigma_prev) - torch.log(sigma)) / h
    d1 = (x0_hat - x0_prev) / r
    return sigma_next / sigma * x - torch.expm1(-h) * x0_hat - 0.5 * torch.expm1(-h) * d1


def _weights(x, x0_hat, x0_prev, sigma_prev, sigma, sigma_next):
    """The corrected guess as a weighted sum of the two guesses."""
    c = 0.5 * torch.log(sigma / sigma_next) / torch.log(sigma_prev / sigma)
    d = (1 + c) * x0_hat - c * x0_prev
    return sigma_next / sigma * x + (1 - sigma_next / sigma) * d


ALTERNATIVES = {"diffusers' midpoint form": _diffusers_form,
                "a weighted sum of the two guesses": _weights}

EXERCISE = exercise(globals(), points=3, summary="DPM-Solver++(2M)'s second-order update",
                    reread="3. Second order from the previous step")
