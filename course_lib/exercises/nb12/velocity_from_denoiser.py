"""Exercise `velocity_from_denoiser` (notebook 12): a sigma-view denoiser read as a velocity
field, v_hat = eps_hat - x0_hat at sigma = t / (1 - t), x_sigma = x_t / (1 - t)."""
from __future__ import annotations

import torch

from course_lib.checking import Case, Props, close, equals, exercise
from course_lib.exercises.common import gen, per_sample, pick
from course_lib.exercises.nb12.probes import (
    ProbeDenoiser,
    denoiser_of,
    flow_of,
    gaussian_flow,
    points_set,
    showing_cases,
    shows,
)
from course_lib.exercises.toy_models import gaussian


# <solution cell>
def velocity_from_denoiser(denoiser, x_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """The velocity v_hat that the sigma-view denoiser(x, sigma) -> eps_hat implies at the
    point x_t of the straight path at time t (section 4's bridge, the other way): one
    denoiser call at the matching level and point. x_t: (B, *D); t: (B,) in (0, 1).
    Returns (B, *D)."""
    ### BEGIN SOLUTION
    sigma = t / (1 - t)                                  # (B,)
    s = sigma.reshape(-1, *[1] * (x_t.dim() - 1))        # (B, 1, ...)
    x_sigma = x_t * (1 + s)                              # = x_t / (1 - t)
    eps_hat = denoiser(x_sigma, sigma)
    x0_hat = x_sigma - s * eps_hat
    return eps_hat - x0_hat
    ### END SOLUTION
# </solution cell>


def cases() -> dict[str, Case]:
    g = gen(1231)
    x = 1.5 * torch.randn(9, 2, generator=g)
    t = torch.linspace(0.03, 0.97, 9)
    img = torch.randn(3, 2, 4, 4, generator=g)
    s = pick(1232, 0.5, 0.3, 1.0)
    h = gen(1233)
    b = pick(1234, 7, 5, 11)
    x64 = torch.randn(b, 2, generator=h, dtype=torch.float64)
    t64 = 0.05 + 0.9 * torch.rand(b, generator=h, dtype=torch.float64)
    return {"probe": Case((ProbeDenoiser(1235), x, t)),
            "gaussian images": Case((gaussian(s), img,
                                     torch.tensor(pick(1236, [0.1, 0.5, 0.99], [0.2, 0.8, 0.6])))),
            "one": Case((ProbeDenoiser(1237), x[:1].clone(), t[6:7].clone())),
            "ideal of K": Case((denoiser_of(points_set(pick(1238, 6, 4, 9), 1239)), x64, t64)),
            # denoisers that show what the bridge does with them (section 4's rules apart)
            **showing_cases(x, t)}



PROPS = Props()


PROPS("""the ideal denoiser of a finite set K gives the exact flow of K

      the ideal denoiser and the optimal velocity are one model seen two ways: read at the
      matching level and point of the sigma view, the noise and data guesses give the velocity
      that carries the straight paths

      code: sigma and x_sigma per sample from t and x_t (section 4); the data guess is x_sigma
      minus sigma times eps_hat; return eps_hat minus the data guess""",
      equals(cases, "ideal of K", lambda model, x, t: flow_of(
          points_set(pick(1238, 6, 4, 9), 1239).double())(x, t), "exact velocity", atol=1e-8))


PROPS("""Gaussian data: gives the exact velocity of N(0, s^2 I), for images

      for Gaussian data both views have closed forms; each sample has its own time, whatever
      dimensions follow the batch

      code: reshape sigma to (B, 1, ..., 1) for x_t of any rank""",
      equals(cases, "gaussian images", lambda model, x, t: gaussian_flow(
          pick(1232, 0.5, 0.3, 1.0), t, x), "exact velocity", atol=1e-4))


def _vel(d, x, t, at=lambda t: t / (1 - t), scale=lambda t: 1 / (1 - t), x0=None,
         out=lambda e, x0: e - x0, held=False):
    """The bridge with one rule changed."""
    sigma = at(t)
    if held:
        sigma = sigma[:1].expand(len(sigma))
    x_s = x_t_scaled = x * per_sample(scale(t), x)
    eps_hat = d(x_s, sigma)
    x0_hat = (x if x0 == "x_t" else x_t_scaled) - per_sample(sigma, x) * eps_hat
    return out(eps_hat, x0_hat)


def _in_place(d, x, t):
    sigma = t / (1 - t)
    x_s = x.mul_(1 + per_sample(sigma, x))
    e = d(x_s, sigma)
    return e - (x_s - per_sample(sigma, x) * e)


def _no_grad(d, x, t):
    with torch.no_grad():
        return _vel(d, x, t)


BUGS = {
    "velocity sign: x0_hat - eps_hat": lambda d, x, t: _vel(d, x, t, out=lambda e, x0: x0 - e),
    "sigma = (1 - t) / t (t and 1 - t swapped)":
        lambda d, x, t: _vel(d, x, t, at=lambda t: (1 - t) / t, scale=lambda t: 1 / t),
    "the denoiser sees x_t, not x_sigma": lambda d, x, t: _vel(d, x, t, scale=lambda t: 1 + 0 * t),
    "the denoiser is asked at t, not sigma": lambda d, x, t: _vel(d, x, t, at=lambda t: t),
    "x0_hat from x_t instead of x_sigma": lambda d, x, t: _vel(d, x, t, x0="x_t"),
    "returns eps_hat alone": lambda d, x, t: _vel(d, x, t, out=lambda e, x0: e),
    "returns the x0 guess": lambda d, x, t: _vel(d, x, t, out=lambda e, x0: x0),
    "[held] the first t for the whole batch": lambda d, x, t: _vel(d, x, t, held=True),
    "[held] a (B, 1) sigma (2-d points only)": lambda d, x, t: (
        lambda s, x_s: (lambda e: e - (x_s - s[:, None] * e))(d(x_s, s)))(
        t / (1 - t), x / (1 - t[:, None])),
    "[grad] under torch.no_grad()": _no_grad,
    "[dtype] sigma rebuilt in float32":
        lambda d, x, t: _vel(d, x, t, at=lambda t: torch.tensor((t / (1 - t)).tolist())),
    "[alias] rescales x_t in place": _in_place,
}


def _one_line(d, x, t):
    """(eps_hat - x_t) / (1 - t): the same mix written with x_t instead of x0_hat."""
    sigma = t / (1 - t)
    eps_hat = d(x / per_sample(1 - t, x), sigma)
    return (eps_hat - x) / per_sample(1 - t, x)


ALTERNATIVES = {"(eps_hat - x_t) / (1 - t)": _one_line}


PROPS("""works at the sigma view's point x_sigma = x_t / (1 - t)

      the denoiser and the data guess live in the sigma view, where the data is not shrunk: the
      path's point must be scaled back to that view, for the denoiser and for the data guess
      alike (with a zero noise guess the velocity is minus that point)

      code: x_sigma = x_t * (1 + sigma), with sigma reshaped to (B, 1, ...); the data guess is
      made from x_sigma, not x_t""",
      shows(cases, 0, lambda x, t: x / (1 - t[:, None]), "x_t / (1 - t)", 1e-3,
            signless=True))


PROPS("""the denoiser is asked at the level sigma = t / (1 - t)

      each time on the straight path has its own noise level in the sigma view, by section 4's
      change of variable: the denoiser must be asked at that level, not at the time

      code: sigma = t / (1 - t), shape (B,), passed to the denoiser as it is""",
      shows(cases, 2, lambda x, t: t / (1 - t), "t / (1 - t)", 1e-3, relative=True))


PROPS("""the noise guess enters the velocity with weight 1 + sigma

      the velocity is the noise guess minus the data guess, and the data guess itself holds
      minus sigma times the noise guess: together the noise guess counts one plus sigma times,
      with a plus sign

      code: x0_hat = x_sigma - sigma * eps_hat; return eps_hat - x0_hat, in that order""",
      shows(cases, 1, lambda x, t: 1 / (1 - t), "(1 + sigma)", 1e-3, relative=True))


PROPS("""matches the reference on points and a batch of one

      the denoiser is asked once, at the noise level and point of the sigma view that correspond
      to t and x_t, and its two guesses are mixed into a velocity

      code: sigma per sample from t, reshaped to (B, 1, ...) for x_t of any rank; one denoiser
      call at (x_sigma, sigma) with sigma of shape (B,)""",
      close("probe", "one"))

EXERCISE = exercise(globals(), points=2, summary="a sigma-view denoiser as a velocity field",
                    reread="4. The bridge to the sigma view")
