"""Exercise `guided_samples` (notebook 05): the sampling loop with classifier-free guidance,
graded step by step on the same start, and against unguided sampling at w = 1 and w = 0."""
from __future__ import annotations

import torch

from course_lib import diffusion, guidance
from course_lib.checking import Case, Props, close, exercise
from course_lib.exercises.common import as_list, lands_on, pick, same_count, states
from course_lib.exercises.nb05.cfg_denoise import cfg_denoise
from course_lib.exercises.nb05.probes import (
    halves,
    labelled_toy,
    labels_for,
    land_case,
    loop,
    same_as_unguided,
    start,
    uneven_levels,
)
from course_lib.guidance import NULL


# <solution cell>
@torch.no_grad()
def guided_samples(denoiser, sigmas: torch.Tensor, x: torch.Tensor, cond: torch.Tensor,
                   w: float):
    """Deterministic (DDIM) sampling with classifier-free guidance of weight w towards the
    labels cond (B,), with denoiser(x, sigma, cond) -> eps_hat and your cfg_denoise. x is the
    state at noise level sigmas[0]; walk each consecutive pair (sigma, sigma_next) of the
    decreasing list `sigmas` and yield x after every step (len(sigmas) - 1 states). Nothing is
    drawn at random."""
    ### BEGIN SOLUTION
    for sigma, sigma_next in zip(sigmas[:-1], sigmas[1:]):
        eps_hat = cfg_denoise(denoiser, x, sigma, cond, w)
        x = x - (sigma - sigma_next) * eps_hat
        yield x
    ### END SOLUTION
# </solution cell>


def cases() -> dict[str, Case]:
    _, _, den = labelled_toy(pick(180, 9, 7, 12), 181)
    levels = diffusion.COURSE.levels(pick(182, 12, 9, 15))
    uneven = uneven_levels(183, pick(184, 10, 8, 13)).double()
    partial = uneven_levels(185, pick(186, 7, 6, 9), last=pick(187, 0.2, 0.1, 0.5))  # stops above 0
    _, _, den_img = labelled_toy(pick(188, 8, 6, 10), 189, (1, 4, 4))
    return {  # float32 for a few samples; float64 where near-ties of the toy would amplify
        # float32 rounding (many samples, many steps, large w)
        "w between": Case((den, levels, start(200, levels, 5, 2), labels_for(201, 5),
                           pick(203, 2.5, 1.75, 3.5, 4.25))),
        "w 1": Case((den, uneven, start(204, uneven, 7, 2), labels_for(205, 7), 1.0)),
        "w 0": Case((den, levels.double(), start(207, levels.double(), 5, 2), labels_for(208, 5),
                     0.0)),
        "one sample, stops above 0": Case((den, partial, start(210, partial, 1, 2),
                                          labels_for(211, 1), pick(213, 1.5, 0.6, 5.5))),
        "images": Case((den_img, uneven, start(214, uneven, 3, 1, 4, 4), labels_for(215, 3),
                        pick(217, 2.25, 1.25, 6.0))),
        "to the classes": land_case()[2],
    }


PROPS = Props()


PROPS("""one state per step: len(sigmas) - 1 of them

      one step per consecutive pair of noise levels in the list, the state handed back after
      each""",
      same_count("w between", "pair of levels"))

PROPS("""w = 1 is plain sampling with the conditional denoiser, step by step

      at w = 1 the guided prediction is the conditional one itself; each step moves the state from
      its level to the next with that prediction""",
      same_as_unguided(cases, "w 1", "sampling with cond, unguided"))

PROPS(f"""w = 0 is plain unconditional sampling (every label NULL), step by step

      at w = 0 only the unconditional prediction is left: the one for the NULL label, which is
      not label 0

      code: at w = 0 only the unconditional prediction is left: the one for the NULL label
      ({NULL}), not label 0""",
      same_as_unguided(cases, "w 0", "unconditional sampling", NULL))


@PROPS
def _lands(outs, refs):
    """with w > 1, every sample ends next to a point of its own class

    guidance pushes from the unconditional prediction towards the conditional one, by w times their
    difference, at every step; the last step reaches noise level zero"""
    K, labels, case = land_case()
    ok, detail = lands_on("to the classes", lambda: K, 0.1,
                          classes=lambda: (labels, case.args[3]))(outs, refs)
    return ok, f"w = {case.args[4]:g}: {detail}"


@PROPS
def _steps(outs, refs):
    # float32 rounding, amplified near ties of the toy, stays below 1e-4 (61 draws measured)
    """equals the reference step by step on the same start (non-integer w, a batch of 1, a list that
    stops above 0, images)

    every step takes the guided prediction at the current state and level, then the deterministic
    update to the next level of the list, whatever the list holds

    code: each step: the guided prediction at the current x and sigma, labels [NULL, cond] for the
    two halves, then the deterministic update to sigma_next, whatever the list holds"""
    ok, in32 = close("w between", "one sample, stops above 0", atol=1e-3)(outs, refs)
    if not ok:
        return ok, in32
    ok, in64 = close("images", "to the classes", atol=1e-8, rtol=1e-8)(outs, refs)
    return ok, in64 if not ok else f"{in32} (float32), {in64.split('= ')[1]} (float64)"


def _reversed(den, x, s, c, w):
    u, k = halves(den, x, s, c)
    return u + w * (u - k)


def _w_on_uncond(den, x, s, c, w):
    u, k = halves(den, x, s, c)
    return k + w * (u - k)


def _label_zero(den, x, s, c, w):
    u, k = halves(den, x, s, c, torch.zeros_like(c))
    return u + w * (k - u)


def _repeat(den, x, s, c, w):  # doubles a (B, 2) batch only
    s = diffusion.batch_sigma(s, x)
    u, k = den(x.repeat(2, 1), s.repeat(2), torch.cat([torch.full_like(c, NULL), c])).chunk(2)
    return u + w * (k - u)


def _first_label(den, x, s, c, w):  # as if every sample asked for the same label
    return cfg_denoise(den, x, s, torch.full_like(c, int(c[0])), w)


def _nulls_in_place(den, x, s, c, w):  # "uncond = cond" names the same tensor
    k = den(x, s, c)
    uncond = c
    uncond[:] = NULL
    u = den(x, s, uncond)
    return u + w * (k - u)


def _two_chains(den, sigmas, x, cond, w):
    """Guidance after the step: an unconditional and a conditional chain, each stepped with
    its own prediction at its own state, mixed only afterwards."""
    x_u, x_c = x, x
    for s, s_next in zip(sigmas[:-1], sigmas[1:]):
        x_u = x_u - (s - s_next) * den(x_u, s, torch.full_like(cond, NULL))
        x_c = x_c - (s - s_next) * den(x_c, s, cond)
        yield x_u + w * (x_c - x_u)


def _before_step(den, sigmas, x, cond, w):
    for s, s_next in zip(sigmas[:-1], sigmas[1:]):
        yield x
        x = x - (s - s_next) * cfg_denoise(den, x, s, cond, w)


def _stops_early(den, sigmas, x, cond, w):
    return loop()(den, sigmas[:-1], x, cond, w)


def _in_place(den, sigmas, x, cond, w):
    for s, s_next in zip(sigmas[:-1], sigmas[1:]):
        x -= (s - s_next) * cfg_denoise(den, x, s, cond, w)
        yield x


def _own_noise(den, sigmas, x, cond, w):
    return loop()(den, sigmas, sigmas[0] * torch.randn(x.shape, dtype=x.dtype), cond, w)


def _float32(den, sigmas, x, cond, w):
    return loop()(den, sigmas, x.float(), cond, w)


def _to_zero_last(den, sigmas, x, cond, w):  # as if every list ended at 0
    for i, (s, s_next) in enumerate(zip(sigmas[:-1], sigmas[1:])):
        x = x - (s - (0 if i == len(sigmas) - 2 else s_next)) * cfg_denoise(den, x, s, cond, w)
        yield x


def _course_levels(den, sigmas, x, cond, w):  # the notebook's list, rebuilt
    return loop()(den, diffusion.COURSE.levels(len(sigmas) - 1).to(x.dtype), x, cond, w)


BUGS = {
    "difference reversed (pushes away from the condition)": loop(_reversed),
    "w on the unconditional side": loop(_w_on_uncond),
    "label 0 as the unconditional label": loop(_label_zero),
    "no guidance (the conditional prediction alone)": loop(lambda d, x, s, c, w: d(x, s, c)),
    "cond ignored (denoiser(x, sigma) only)": loop(lambda d, x, s, c, w: d(x, s)),
    "guidance after the step, on two chains": _two_chains,
    "yields x before each step instead of after": _before_step,
    "stops one step early": _stops_early,
    "[held] the last step always to sigma = 0": _to_zero_last,
    "[held] the notebook's sigmas rebuilt, not the list given": _course_levels,
    "[held] x.repeat(2, 1) to double the batch (2-d x only)": loop(_repeat),
    "[held] one label for the whole batch (cond[0])": loop(_first_label),
    "[mutates] fills cond with NULL in place": loop(_nulls_in_place),
    "[alias] x -= ... in place, yielding the same tensor": _in_place,
    "[rng] draws its own starting noise": _own_noise,
    "[dtype] x.float() first": _float32,
}


def _mix_states(den, sigmas, x, cond, w):  # the update is affine in eps: mixing after it is
    for s, s_next in zip(sigmas[:-1], sigmas[1:]):  # the same, at one shared state
        u, k = halves(den, x, s, cond)
        x_u, x_c = x - (s - s_next) * u, x - (s - s_next) * k
        x = x_u + w * (x_c - x_u)
        yield x


def _via_x0(x, e, s, s_next):
    return (x - s * e) + s_next * e


ALTERNATIVES = {
    "returns the list of states": as_list(loop()),
    "two calls, None for unconditional": loop(
        lambda d, x, s, c, w: guidance.cfg_eps(d(x, s, None), d(x, s, c), w)),
    "guidance.guided as the step's denoiser": loop(
        lambda d, x, s, c, w: guidance.guided(d, c, w)(x, s)),
    "mixes the two stepped states of one shared x": _mix_states,
    "through x0_hat, renoised to sigma_next": loop(step=_via_x0),
}


EXERCISE = exercise(globals(), points=3, summary="the guided sampling loop",
                    harness=states,
                    proxies=("course_lib.samplers.samples", "course_lib.samplers.sample"),
                    reread="7. The guided sampler")
