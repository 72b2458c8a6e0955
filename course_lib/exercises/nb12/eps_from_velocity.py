"""Exercise `eps_from_velocity` (notebook 12): a velocity model read as the course's denoiser,
eps_hat at (x_sigma, sigma) through t = sigma / (1 + sigma) and x_t = x_sigma / (1 + sigma)."""
from __future__ import annotations

import torch

from course_lib.checking import Case, Props, close, equals, exercise
from course_lib.exercises.common import gen, per_sample, pick
from course_lib.exercises.nb12.probes import (
    ProbeConvVelocity,
    ProbeVelocity,
    denoiser_of,
    flow_of,
    points_set,
    showing_cases,
    shows,
)


# <solution cell>
def eps_from_velocity(velocity, x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """The noise guess eps_hat that the velocity model velocity(x_t, t) implies for the
    sigma-view point x at level sigma (section 4's bridge): one model call at the matching
    point and time of the straight path. x: (B, *D); sigma: (B,), positive. Returns (B, *D)."""
    ### BEGIN SOLUTION
    t = sigma / (1 + sigma)                              # (B,)
    t_b = t.reshape(-1, *[1] * (x.dim() - 1))            # (B, 1, ...)
    x_t = x * (1 - t_b)                                  # = x / (1 + sigma)
    v_hat = velocity(x_t, t)
    return x_t + (1 - t_b) * v_hat
    ### END SOLUTION
# </solution cell>


def cases() -> dict[str, Case]:
    g = gen(1221)
    x = 3 * torch.randn(9, 2, generator=g)
    sigma = torch.exp(torch.linspace(-4, 3, 9))
    img = 2 * torch.randn(3, 2, 4, 4, generator=g)
    K = points_set(pick(1222, 6, 4, 9), 1223)
    h = gen(1224)
    b = pick(1225, 7, 5, 11)
    x64 = 2 * torch.randn(b, 2, generator=h, dtype=torch.float64)
    s64 = torch.exp(torch.rand(b, generator=h, dtype=torch.float64) * 6 - 3)
    return {"probe": Case((ProbeVelocity(1226), x, sigma)),
            "images": Case((ProbeConvVelocity(1227), img,
                            torch.tensor(pick(1228, [0.05, 1.0, 20.0], [0.1, 3.0, 50.0])))),
            "one": Case((ProbeVelocity(1229), x[:1].clone(), sigma[4:5].clone())),
            "flow of K": Case((flow_of(K), x64, s64)),
            # models that show what the bridge does with them (section 4's three rules apart)
            **showing_cases(x, sigma)}



PROPS = Props()


PROPS("""the exact flow of a finite set K gives notebook 04's ideal denoiser of K

      the optimal velocity and the ideal denoiser describe one and the same model: read at the
      matching time and point of the straight path, the velocity must give the ideal noise guess
      of the sigma view

      code: turn sigma into t and x into x_t per sample (section 4), call the model once, then add
      1 - t times its velocity to x_t""",
      equals(cases, "flow of K", lambda model, x, sigma: denoiser_of(
          points_set(pick(1222, 6, 4, 9), 1223).double())(x, sigma), "ideal eps_hat", atol=1e-8))


def _sig(s, x):
    return per_sample(s, x)


def _eps(velocity, x, sigma, at=lambda s: s / (1 + s), scale=lambda s: 1 / (1 + s),
         mix=lambda x_t, t, v: x_t + (1 - t) * v, held=False):
    """The bridge with one rule changed."""
    t = at(sigma)
    t_b, x_t = per_sample(t, x), x * per_sample(scale(sigma), x)
    if held:
        t_b, t = t[0], t[:1].expand(len(t))
    return mix(x_t, t_b, velocity(x_t, t))


def _in_place(velocity, x, sigma):
    x_t = x.div_(1 + _sig(sigma, x))
    t = sigma / (1 + sigma)
    return x_t + (1 - _sig(t, x)) * velocity(x_t, t)


def _no_grad(velocity, x, sigma):
    with torch.no_grad():
        return _eps(velocity, x, sigma)


BUGS = {
    "the model sees x_sigma, not x_t": lambda v, x, s: _eps(v, x, s, scale=lambda s: 1 + 0 * s),
    "the model is asked at sigma, not t": lambda v, x, s: _eps(v, x, s, at=lambda s: s),
    "t = 1 / (1 + sigma) (t and 1 - t swapped)":
        lambda v, x, s: _eps(v, x, s, at=lambda s: 1 / (1 + s)),
    "velocity sign: x_t - (1 - t) v": lambda v, x, s: _eps(
        v, x, s, mix=lambda x_t, t, vel: x_t - (1 - t) * vel),
    "x_t + t v (t and 1 - t swapped in the mix)": lambda v, x, s: _eps(
        v, x, s, mix=lambda x_t, t, vel: x_t + t * vel),
    "returns the x0 guess x_t - t v": lambda v, x, s: _eps(
        v, x, s, mix=lambda x_t, t, vel: x_t - t * vel),
    "returns the velocity itself": lambda v, x, s: _eps(v, x, s, mix=lambda x_t, t, vel: vel),
    "[held] the first sigma for the whole batch": lambda v, x, s: _eps(v, x, s, held=True),
    "[held] a (B, 1) sigma (2-d points only)": lambda v, x, s: (
        lambda t, x_t: x_t + (1 - t[:, None]) * v(x_t, t))(s / (1 + s), x / (1 + s[:, None])),
    "[grad] under torch.no_grad()": _no_grad,
    "[dtype] t rebuilt in float32": lambda v, x, s: _eps(
        v, x, s, at=lambda s: torch.tensor((s / (1 + s)).tolist())),
    "[alias] divides x in place": _in_place,
}


def _through_x0(v, x, s):
    """eps from x_sigma and the x0 guess: (x_sigma - x0_hat) / sigma."""
    t = s / (1 + s)
    x_t = x / (1 + _sig(s, x))
    x0_hat = x_t - _sig(t, x) * v(x_t, t)
    return (x - x0_hat) / _sig(s, x)


ALTERNATIVES = {
    "through the x0 guess": _through_x0,
    "t as 1 - 1 / (1 + sigma)": lambda v, x, s: _eps(v, x, s, at=lambda s: 1 - 1 / (1 + s)),
}


PROPS("""the model sees the straight path's point x_t = x / (1 + sigma)

      the velocity model only knows the straight path between data and noise: the sigma view's
      point must be scaled onto that path before the model sees it (with a zero velocity the
      bridge returns that point)

      code: x_t = x * (1 - t), with 1 - t = 1 / (1 + sigma) reshaped to (B, 1, ...)""",
      shows(cases, 0, lambda x, s: x / (1 + s[:, None]), "x / (1 + sigma)", 2e-4))


PROPS("""the model is asked at the path's time t = sigma / (1 + sigma)

      each noise level has its own time on the straight path, between 0 (data) and 1 (noise), by
      section 4's change of variable: the model must be asked at that time, not at sigma

      code: t = sigma / (1 + sigma), shape (B,), passed to the model as it is""",
      shows(cases, 2, lambda x, s: s / (1 + s), "sigma / (1 + sigma)", 1e-3))


PROPS("""the velocity is added to x_t with weight 1 - t

      from the path's point, the noise end of the path is reached by moving at the model's
      velocity for the time that is left until 1

      code: x_t + (1 - t) * velocity(x_t, t), with 1 - t reshaped to (B, 1, ...)""",
      shows(cases, 1, lambda x, s: 1 / (1 + s), "(1 - t)", 1e-3))


PROPS("""matches the reference on points, images and a batch of one

      the model is asked once, at the time and point of the straight path that correspond to
      sigma and x, and its velocity is turned into a noise guess

      code: t and x_t per sample from sigma, with sigma reshaped to (B, 1, ...) for x of any
      rank; the model gets t itself, shape (B,)""",
      close("probe", "images", "one"))

EXERCISE = exercise(globals(), points=2, summary="a velocity model as the course's denoiser",
                    reread="4. The bridge to the sigma view")
