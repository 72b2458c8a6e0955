"""Exercise `dpm_first_order_step` (notebook 11): DPM-Solver++'s first-order step in the sigma
view, the exact solution of the ODE in lambda = -log sigma with the data guess held fixed."""
from __future__ import annotations

import torch

from course_lib.checking import Case, Props, close, equals, equals_input, exercise
from course_lib.exercises.common import gen, pick
from course_lib.exercises.nb11.probes import diffusers_step, sd_case, triple


# <solution cell>
def dpm_first_order_step(x: torch.Tensor, x0_hat: torch.Tensor, sigma: torch.Tensor,
                         sigma_next: torch.Tensor) -> torch.Tensor:
    """The state at noise level sigma_next reached from x at level sigma by section 2's
    first-order step: the ODE written in lambda solved exactly, with the data guess x0_hat
    held fixed over the step. x, x0_hat: (B, *D); sigma > sigma_next >= 0, 0-dim tensors.
    Returns a new tensor (B, *D); at sigma_next = 0 it equals the data guess."""
    ### BEGIN SOLUTION
    lam, lam_next = -torch.log(sigma), -torch.log(sigma_next)  # half-log-SNR
    h = lam_next - lam                                         # > 0: towards the data
    decay = torch.exp(-h)                                      # the exact part's factor
    return decay * x + (1 - decay) * x0_hat
    ### END SOLUTION
# </solution cell>


def _pair(n: int, dtype=torch.float32) -> tuple[torch.Tensor, torch.Tensor]:
    sigma_prev, sigma, sigma_next = triple(n, dtype)
    return sigma, sigma_next


def cases() -> dict[str, Case]:
    g = gen(1101)
    x, x0 = 3 * torch.randn(7, 2, generator=g), torch.randn(7, 2, generator=g)
    img, img0 = torch.randn(3, 3, 4, 4, generator=g), torch.randn(3, 3, 4, 4, generator=g)
    (_, s_sd, s_sd_next), _, _ = sd_case(1102)
    h = gen(1103)
    b = pick(1104, 5, 3, 9)
    x64 = 4 * torch.randn(b, 2, generator=h, dtype=torch.float64)
    x064 = torch.randn(b, 2, generator=h, dtype=torch.float64).requires_grad_()
    big = pick(1105, 10.0, 14.6, 80.0)
    return {
        "points": Case((x, x0, *_pair(1106))),
        "to zero": Case((x.clone(), x0.clone(), torch.tensor(pick(1107, 0.02, 0.05, 0.3)),
                         torch.tensor(0.0))),
        "images": Case((img, img0, *_pair(1108))),
        "one image": Case((img[:1].clone(), img0[:1].clone(), *_pair(1109))),
        "SD's levels": Case((x.clone(), x0.clone(), s_sd, s_sd_next)),
        "a big jump, float64": Case((x64, x064, torch.tensor(big, dtype=torch.float64),
                                     torch.tensor(big / pick(1110, 30.0, 9.0, 50.0),
                                                  dtype=torch.float64))),
    }


PROPS = Props()


PROPS("""a step to noise level 0 lands on the data guess

      at level 0 the half-log-SNR is infinite: the exact part has decayed away entirely and only
      the data guess is left

      code: -torch.log of a zero level is +inf, and exp(-inf) is 0: no special case is needed,
      but no division by the level either""",
      equals_input(cases, "to zero", 1, "x0_hat"))


PROPS("""it is DDIM: the data guess plus sigma_next times the noise guess of x

      holding the data guess fixed in lambda gives back notebook 03's deterministic step, the
      guessed noise re-scaled to the next level

      code: the factor on x is the ratio of the two levels; what it leaves over weighs the data
      guess""",
      equals(cases, "points", lambda x, x0, sigma, sigma_next: x0 + sigma_next * (x - x0) / sigma,
             "DDIM"))


PROPS("""equals diffusers' DPMSolverMultistepScheduler's first-order update (SD's levels)

      diffusers works on DDPM's scale, x divided by the square root of one plus sigma squared,
      with the same half-log-SNR; brought back to the sigma view its first-order step must be
      yours

      code: lambda is minus the log of the level and h is the rise of lambda over the step""",
      equals(cases, "SD's levels", lambda x, x0, *_: diffusers_step(
          x.double(), x0.double(), None, *sd_case(1102)[1:]),
          "diffusers (which works in float32)", atol=1e-4))


PROPS("""matches the reference on points, images, a batch of one and a big jump in float64

      one step: x decays towards the data guess by the exponential of minus h, h being the rise
      of the half-log-SNR from sigma to sigma_next

      code: h = lambda_next - lambda with lambda = -log sigma; x times exp(-h), plus the data
      guess times what is left of one""",
      close("points", "images", "one image", "SD's levels"))

PROPS("""keeps float64 precision

      the factors are computed in the levels' own dtype, with no float32 step in between

      code: no float(...) round trip through torch.tensor, no .float()""",
      close("a big jump, float64", atol=1e-12, rtol=1e-12))


def _step(lam=lambda s: -torch.log(s), combine=lambda d, x, x0: d * x + (1 - d) * x0):
    """The step with one rule changed."""
    def step(x, x0_hat, sigma, sigma_next):
        h = lam(sigma_next) - lam(sigma)
        return combine(torch.exp(-h), x, x0_hat)
    return step


def _in_place(x, x0_hat, sigma, sigma_next):
    decay = sigma_next / sigma
    return x.mul_(decay).add_((1 - decay) * x0_hat)


def _no_grad(x, x0_hat, sigma, sigma_next):
    with torch.no_grad():
        return _step()(x, x0_hat, sigma, sigma_next)


def _vp_alpha(x, x0_hat, sigma, sigma_next):
    """diffusers' coefficients copied without the division by alpha_next."""
    decay = sigma_next / sigma
    alpha_next = 1 / (1 + sigma_next**2).sqrt()
    return decay * x + alpha_next * (1 - decay) * x0_hat


BUGS = {
    "wrong lambda sign: lambda = log sigma": _step(lam=torch.log),
    "the weights on x and x0_hat swapped": _step(combine=lambda d, x, x0: (1 - d) * x + d * x0),
    "lambda = -log sigma^2 (the log-SNR, not its half)": _step(lam=lambda s: -2 * torch.log(s)),
    "diffusers' VP coefficients without dividing by alpha_next": _vp_alpha,
    "the decay factor exp(h) - 1 of the noise-prediction solver":
        _step(combine=lambda d, x, x0: d * x + (1 / d - 1) * x0),
    "[held] always lands on x0_hat (as if sigma_next were 0)":
        _step(combine=lambda d, x, x0: x0 + 0 * x),
    "[dtype] the levels rebuilt in float32":
        lambda x, x0, s, sn: _step()(x, x0, torch.tensor(float(s)), torch.tensor(float(sn))),
    "[grad] under torch.no_grad()": _no_grad,
    "[alias] scales x in place": _in_place,
}

ALTERNATIVES = {
    "DDIM: x0_hat + sigma_next eps_hat": lambda x, x0, s, sn: x0 + sn * (x - x0) / s,
    "the ratio of levels": lambda x, x0, s, sn: (sn / s) * x + (1 - sn / s) * x0,
    "diffusers' form, divided by alpha_next": lambda x, x0, s, sn: (
        sn / s * x - torch.expm1(torch.log(sn) - torch.log(s)) * x0),
}

EXERCISE = exercise(globals(), points=2, summary="DPM-Solver++'s first-order step (DDIM again)",
                    reread="2. The exact part and the guessed part")
