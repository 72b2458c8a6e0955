"""Exercise `dpm_solver_samples` (notebook 11): the DPM-Solver++(2M) sampling loop over a
decreasing list of noise levels: a first-order warm-up, second-order multistep updates from
the previous data guess, and a first-order step wherever the next level is 0."""
from __future__ import annotations

import math

import torch

from course_lib import spiral
from course_lib.checking import Case, Props, close, exercise
from course_lib.exercises.common import as_list, gen, lands_on, pick, same_count, states
from course_lib.exercises.nb04.probes import shifted
from course_lib.exercises.nb11.dpm_2m_step import dpm_2m_step
from course_lib.exercises.nb11.dpm_first_order_step import dpm_first_order_step
from course_lib.exercises.nb11.probes import (
    ProbeDenoiser,
    before_step,
    cond_shifts,
    even_prev,
    final_only,
    gaussian_ode,
    in_place,
    log_levels,
    uneven_levels,
    walk,
)
from course_lib.exercises.toy_models import gaussian, points


# <solution cell>
@torch.no_grad()
def dpm_solver_samples(denoiser, sigmas: torch.Tensor, x: torch.Tensor, cond=None):
    """Walk consecutive pairs (sigma, sigma_next) of the decreasing `sigmas`, from x at level
    sigmas[0], with DPM-Solver++(2M) (section 4): one denoiser call per step, as
    denoiser(x, sigma, cond), or denoiser(x, sigma) when cond is None. The first step, and
    any step whose sigma_next is 0, is your first-order step; every other step is your
    second-order update, using the data guess and level of the step before. Yield x after
    every step (len(sigmas) - 1 states)."""
    ### BEGIN SOLUTION
    x0_prev = sigma_prev = None
    for sigma, sigma_next in zip(sigmas[:-1], sigmas[1:]):
        eps_hat = denoiser(x, sigma) if cond is None else denoiser(x, sigma, cond)
        x0_hat = x - sigma * eps_hat
        if x0_prev is None or sigma_next == 0:
            x = dpm_first_order_step(x, x0_hat, sigma, sigma_next)
        else:
            x = dpm_2m_step(x, x0_hat, x0_prev, sigma_prev, sigma, sigma_next)
        x0_prev, sigma_prev = x0_hat, sigma
        yield x
    ### END SOLUTION
# </solution cell>


S_GAUSS = 0.5  # the data's std in the order property


def _order_levels(steps: int) -> torch.Tensor:
    """log-even levels from 10 to 0.05 (no final 0: the property reads the last state)."""
    return log_levels(steps, 10.0, 0.05, zero=False, dtype=torch.float64)


def cases() -> dict[str, Case]:
    g = gen(1141)
    x, x1 = torch.randn(6, 2, generator=g), torch.randn(1, 2, generator=g)
    img = torch.randn(2, 3, 4, 4, generator=g)
    uneven = uneven_levels(1142, pick(1143, 8, 6, 10))
    part = uneven_levels(1144, 5, hi=pick(1145, 4.0, 2.0), lo=pick(1146, 0.2, 0.1), zero=False)
    K = points(pick(1147, 5, 4, 6), 1148)[0]
    xk = torch.randn(40, 2, generator=g, dtype=torch.float64)
    s_k = uneven_levels(1149, pick(1150, 12, 10, 15), dtype=torch.float64)
    xs = torch.randn(pick(1151, 64, 48, 80), 2, generator=g, dtype=torch.float64)
    n = pick(1152, 16, 20, 24)  # where the error is already in its asymptotic regime
    xg = torch.randn(16, 2, generator=g, dtype=torch.float64)
    x_c = torch.randn(8, 2, generator=g, dtype=torch.float64)
    s_c = uneven_levels(1153, 12, dtype=torch.float64)
    return {
        "model, uneven levels": Case((ProbeDenoiser(1154), uneven, 10 * x)),
        "part of the way, one sample": Case((ProbeDenoiser(1155), part, part[0] * x1)),
        "images, denoiser(x, sigma)": Case((lambda x, s: gaussian(0.5)(x, s), uneven,
                                            10 * img)),
        "ideal denoiser of K": Case((points(pick(1147, 5, 4, 6), 1148)[1], s_k, s_k[0] * xk)),
        "the spiral's points": Case((_spiral_denoiser(), log_levels(pick(1156, 20, 16, 25),
                                                                    dtype=torch.float64),
                                     10 * xs)),
        "Gaussian, n steps": Case((gaussian(S_GAUSS), _order_levels(n), 10 * xg)),
        "Gaussian, 2n steps": Case((gaussian(S_GAUSS), _order_levels(2 * n), 10 * xg.clone())),
        "cond": Case((shifted(K.double()), s_c, s_c[0] * x_c),
                     {"cond": cond_shifts(1157, 8)}),
    }


def _spiral_denoiser():
    from course_lib.projection import ideal_eps

    K = spiral.make_spiral(pick(1158, 200, 150, 250)).double()
    return lambda x, sigma, cond=None: ideal_eps(x, sigma, K)


def _gaussian_error(outs, name: str) -> float:
    x = cases()[name].args[2]
    final = outs[name].value[-1]
    return (final - gaussian_ode(S_GAUSS, x, 10.0, 0.05)).norm(dim=1).mean().item()


PROPS = Props()

PROPS("""one state per step: len(sigmas) - 1 of them

      a step goes from each level of the list to the next, down to the last one""",
      same_count("model, uneven levels", "step"))


@PROPS
def _order(outs, refs):
    """second order: doubling the steps divides the error on Gaussian data by about four

    for Gaussian data the ODE has an exact solution; a first-order method's error halves when
    the steps double, DPM-Solver++(2M)'s falls about four-fold, once every step after the first
    extrapolates from the step before

    code: after the first step, pass the data guess and the level of the previous step to your
    second-order update"""
    e1, e2 = _gaussian_error(outs, "Gaussian, n steps"), _gaussian_error(outs, "Gaussian, 2n steps")
    ratio = e1 / max(e2, 1e-300)
    return ratio > 3.0 and e2 < 1e-2, (f"errors {e1:.2e} and {e2:.2e}: divided by {ratio:.2f} "
                                       "(at least 3 expected)")


PROPS("""the ideal denoiser of a finite set K carries every sample next to a point of K

      the last step goes all the way to level 0, where the state is the data guess""",
      lands_on("ideal denoiser of K", lambda: points(pick(1147, 5, 4, 6), 1148)[0].double(),
               tol=0.05))


@PROPS
def _spiral_dist(outs, refs):
    """the spiral's ideal denoiser lands on the spiral as closely as the course's loop

    samples far from the curve mean that a step extrapolates from the wrong guess or the wrong
    level

    code: x0_hat is x minus sigma times eps_hat, made at the step's own level"""
    from course_lib import metrics2d

    curve = spiral.make_spiral(4000).double()
    mine = metrics2d.dist_to_data(outs["the spiral's points"].value[-1], curve)
    ref = metrics2d.dist_to_data(refs["the spiral's points"].value[-1], curve)
    return mine <= ref + 1e-6, (f"mean distance to the spiral {mine:.3e}, the course's loop "
                                f"{ref:.3e} ({mine - ref:+.1e}, at most 1e-6 more allowed)")


@PROPS
def _cond(outs, refs):
    """cond reaches the denoiser: conditional samples land on their own K + cond

    the condition goes to the denoiser at every step; without it the samples land on the data
    set without its shift"""
    K = points(pick(1147, 5, 4, 6), 1148)[0].double()
    shift = cases()["cond"].kwargs["cond"]
    final = outs["cond"].value[-1].double()
    own = (final[:, None] - (K[None] + shift[:, None])).norm(dim=-1).min(1).values.max().item()
    return own < 0.05, f"largest distance from a sample to its own K + cond: {own:.2e}"

PROPS("""equals the reference step by step (a model on uneven levels, part of the way, images, a
      batch of one)

      each step starts where the last one ended; the first step has no previous guess, a step to
      level 0 cannot extrapolate, and every other step corrects its guess with the one made a
      step before, at that step's level

      code: keep the previous x0_hat and the previous sigma between steps (None before the
      first); use your first-order step when there is no previous guess or when sigma_next == 0,
      your second-order update otherwise""",
      close("model, uneven levels", "part of the way, one sample", "images, denoiser(x, sigma)",
            atol=1e-5))


BUGS = {
    "no first-order warm-up: the first step extrapolates from a zero guess":
        walk(first=lambda x, levels: (torch.zeros_like(x), even_prev(levels))),
    "no first-order last step: second order to level 0": walk(last_first_order=False),
    "the first-order step everywhere (DDIM: the previous guess never used)": walk(second=False),
    "the previous guess kept from the first step only": walk(update_prev=False),
    "[held] sigma_prev stays sigmas[0]": walk(prev_sigma=lambda levels: levels[0]),
    "cond never reaches the denoiser": walk(call=lambda d, x, sigma, cond: d(x, sigma)),
    "[held] passes cond even when it is None (a denoiser(x, sigma) breaks)":
        walk(call=lambda d, x, sigma, cond: d(x, sigma, cond)),
    "stops one step early": walk(pairs=lambda s: zip(s[:-2], s[1:-1])),
    "yields x before each step instead of after": before_step,
    "returns only the final x": final_only,
    "[rng] starts from its own noise": walk(own_noise=True),
    "[dtype] the levels in float32": walk(dtype=False),
    "[mutates] steps the caller's x in place": in_place,
}


def _python_floats(denoiser, sigmas, x, cond=None):
    """The levels as Python floats, the guesses kept in a list, the update written out."""
    levels, guesses = [float(s) for s in sigmas], []
    for i, (sigma, sigma_next) in enumerate(zip(levels, levels[1:])):
        eps_hat = denoiser(x, sigma) if cond is None else denoiser(x, sigma, cond=cond)
        guesses.append(x - sigma * eps_hat)
        d = guesses[-1]
        if i > 0 and sigma_next > 0:
            r = math.log(levels[i - 1] / sigma) / math.log(sigma / sigma_next)
            d = d + (guesses[-1] - guesses[-2]) / (2 * r)
        x = sigma_next / sigma * x + (1 - sigma_next / sigma) * d
        yield x


def _eps_form(denoiser, sigmas, x, cond=None):
    """The same steps through the noise guess: x_next = D + sigma_next (x - D) / sigma."""
    x0_prev = None
    for i in range(len(sigmas) - 1):
        sigma, sigma_next = sigmas[i], sigmas[i + 1]
        x0_hat = x - sigma * (denoiser(x, sigma) if cond is None else denoiser(x, sigma, cond))
        d = x0_hat
        if x0_prev is not None and sigma_next > 0:
            r = (torch.log(sigmas[i - 1]) - torch.log(sigma)) / (torch.log(sigma)
                                                                 - torch.log(sigma_next))
            d = x0_hat + (x0_hat - x0_prev) / (2 * r)
        x = d + sigma_next * (x - d) / sigma
        x0_prev = x0_hat
        yield x


ALTERNATIVES = {
    "returns the list of states": as_list(walk()),
    "Python floats for the levels, the update written out": _python_floats,
    "through the noise guess of the corrected data guess": _eps_form,
}


EXERCISE = exercise(globals(), points=3, summary="the DPM-Solver++(2M) sampling loop",
                    proxies=("course_lib.fewstep.sample",), harness=states,
                    reread="4. The sampling loop: warm-up, multistep, last step")
