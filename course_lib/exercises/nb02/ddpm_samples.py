"""Exercise `ddpm_samples` (notebook 02): the ancestral sampling loop, from x_T down to x_0."""
from __future__ import annotations

import torch

from course_lib import ddpm
from course_lib.checking import Case, Props, close, exercise
from course_lib.exercises.common import gen, lands_on, pick, same_count, states
from course_lib.exercises.nb02.ddpm_step import ddpm_step
from course_lib.exercises.toy_models import cosine_alpha_bar, gaussian, linear_alpha_bar, points


# <solution cell>
@torch.no_grad()
def ddpm_samples(model, alpha_bar: torch.Tensor, x_T: torch.Tensor,
                 generator: torch.Generator | None = None):
    """Ancestral sampling. x_T is the state at t = T - 1 (T = len(alpha_bar)); walk t down to 0
    with your ddpm_step and model(x_t, t) -> eps_hat, and yield x after every step (T states,
    the last one x_0). The noise of a step with t > 0 is one draw of
    torch.randn(x.shape, generator=generator, dtype=x.dtype), made just before that step;
    the step at t = 0 adds none."""
    ### BEGIN SOLUTION
    x = x_T
    for t in range(len(alpha_bar) - 1, -1, -1):
        noise = (torch.randn(x.shape, generator=generator, dtype=x.dtype) if t > 0
                 else torch.zeros_like(x))
        x = ddpm_step(x, t, model(x, t), alpha_bar, noise)
        yield x
    ### END SOLUTION
# </solution cell>


def cases() -> dict[str, Case]:
    T1, T2 = pick(27, 200, 160, 240), pick(28, 120, 100, 150)
    ab_lin, ab_cos = linear_alpha_bar(T1), cosine_alpha_bar(T2)
    _, den1 = points(6, 20)
    K2, den2 = points(pick(29, 5, 3, 7), 21)
    g = gen(22)
    return {
        "linear": Case((ddpm.eps_model(den1, ab_lin), ab_lin, torch.randn(5, 2, generator=g),
                        gen(23))),
        "cosine, one sample": Case((ddpm.eps_model(den2, ab_cos), ab_cos,
                                    torch.randn(1, 2, generator=g), gen(24))),
        "cosine, to K": Case((ddpm.eps_model(den2, ab_cos), ab_cos,
                              torch.randn(64, 2, generator=g), gen(25))),
        "images": Case((ddpm.eps_model(gaussian(0.5), ab_lin), ab_lin,
                        torch.randn(3, 1, 4, 4, generator=g), gen(26))),
    }


PROPS = Props()


PROPS("""one state per timestep, ending at t = 0

      the loop visits every timestep of the schedule once, from the noisiest down to t = 0, and
      hands back the state after each visit

      code: yield after every step, the step at t = 0 included: T states for T = len(alpha_bar)""",
      same_count("linear", "timestep"))

PROPS("""lands on the data: every sample ends next to a point of K

      the last step reaches the data: its posterior has no spread left, while every earlier step
      adds exactly one fresh draw of noise

      code: the step at t = 0 adds no noise, and every other step adds exactly one draw""",
      lands_on("cosine, to K", lambda: points(pick(29, 5, 3, 7), 21)[0], tol=0.08))


PROPS("""equals the reference step by step on the same noise (linear and cosine schedules)

      the same noise must meet the same step: each step uses its own draw from the caller's
      generator, taken when that step needs it, in the state's precision

      code: walk t from T - 1 down to 0; draw the step's noise just before the step, from the
      generator you are given, in x's dtype; none at t = 0""",
      close("linear", "cosine, one sample", "images", atol=1e-5))


def _noise_at_zero(model, ab, x_T, generator=None):
    x = x_T
    for t in range(len(ab) - 1, -1, -1):
        x = ddpm_step(x, t, model(x, t), ab, torch.randn(x.shape, generator=generator,
                                                         dtype=x.dtype))
        if t == 0:  # the "no noise at t = 0" rule ignored: a t = 0 step that adds noise anyway
            x = x + 0.1 * torch.randn(x.shape, generator=generator, dtype=x.dtype)
        yield x


def _no_noise(model, ab, x_T, generator=None):
    x = x_T
    for t in range(len(ab) - 1, -1, -1):
        x = ddpm_step(x, t, model(x, t), ab, torch.zeros_like(x))
        yield x


def _stops_at_one(model, ab, x_T, generator=None):
    x = x_T
    for t in range(len(ab) - 1, 0, -1):
        x = ddpm_step(x, t, model(x, t), ab, torch.randn(x.shape, generator=generator,
                                                         dtype=x.dtype))
        yield x


def _thousand(model, ab, x_T, generator=None):
    x = x_T
    for t in range(999, -1, -1):
        noise = torch.randn(x.shape, generator=generator, dtype=x.dtype) if t else 0 * x
        x = ddpm_step(x, t, model(x, t), ab, noise)
        yield x


def _global_rng(model, ab, x_T, generator=None):
    x = x_T
    for t in range(len(ab) - 1, -1, -1):
        noise = torch.randn(x.shape, dtype=x.dtype) if t else torch.zeros_like(x)
        x = ddpm_step(x, t, model(x, t), ab, noise)
        yield x


def _in_place(model, ab, x_T, generator=None):
    x = x_T
    for t in range(len(ab) - 1, -1, -1):
        noise = torch.randn(x.shape, generator=generator, dtype=x.dtype) if t else 0 * x
        x.copy_(ddpm_step(x, t, model(x, t), ab, noise))
        yield x.clone()


def _before_step(model, ab, x_T, generator=None):
    x = x_T
    for t in range(len(ab) - 1, -1, -1):
        yield x
        noise = torch.randn(x.shape, generator=generator, dtype=x.dtype) if t else 0 * x
        x = ddpm_step(x, t, model(x, t), ab, noise)


def _float32_noise(model, ab, x_T, generator=None):
    x = x_T
    for t in range(len(ab) - 1, -1, -1):
        noise = torch.randn(x.shape, generator=generator) if t else torch.zeros_like(x)
        x = ddpm_step(x, t, model(x, t), ab, noise)
        yield x


def _final_only(model, ab, x_T, generator=None):
    return list(ddpm_samples(model, ab, x_T, generator))[-1]


BUGS = {
    "noise added at t = 0 too": _noise_at_zero,
    "no noise at all": _no_noise,
    "stops at t = 1": _stops_at_one,
    "yields x before each step instead of after": _before_step,
    "returns only the final x": _final_only,
    "[held] T = 1000 hard-coded": _thousand,
    "[rng] noise from the global RNG": _global_rng,
    "[alias] steps x_T in place": _in_place,
    "[dtype] noise drawn in float32 whatever x is": _float32_noise,
}


def _as_list(model, ab, x_T, generator=None):
    xs, x = [], x_T
    for t in reversed(range(len(ab))):
        z = torch.randn(x.shape, generator=generator, dtype=x.dtype) if t > 0 else None
        x = ddpm_step(x, t, model(x, t), ab, z if z is not None else torch.zeros_like(x))
        xs.append(x)
    return xs


ALTERNATIVES = {"returns the list of states": _as_list}


EXERCISE = exercise(globals(), points=3, summary="the ancestral sampling loop, T steps",
                    proxies=("diffusers.DDPMScheduler.step",), harness=states,
                    reread="7. Ancestral sampling")
