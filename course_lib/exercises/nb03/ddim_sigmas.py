"""Exercise `ddim_sigmas` (notebook 03): the sigma-view schedule of a timestep subsequence."""
from __future__ import annotations

import torch

from course_lib import ddpm
from course_lib.checking import Case, Props, close, exercise
from course_lib.exercises.common import draw, gen, pick
from course_lib.exercises.nb03.ddim_timesteps import ddim_timesteps
from course_lib.exercises.nb03.probes import linear_alpha_bar, schedule_alpha_bar


# <solution cell>
def ddim_sigmas(alpha_bar: torch.Tensor, timesteps: torch.Tensor) -> torch.Tensor:
    """sigma of each visited timestep, then a final 0. Returns (n + 1,)."""
    ### BEGIN SOLUTION
    return torch.cat([ddpm.alpha_bar_to_sigma(alpha_bar[timesteps]), torch.zeros(1)])
    ### END SOLUTION
# </solution cell>


def _visits(n: int, size: int, T: int) -> torch.Tensor:
    """size distinct timesteps below T, descending, not evenly spaced, drawn for probe n."""
    return torch.randperm(T, generator=gen(n))[:size].sort(descending=True).values


def cases() -> dict[str, Case]:
    ab = linear_alpha_bar()
    T_cos, T_sl = pick(62, 1000, 500, 800), pick(64, 500, 1000, 700)
    cos = schedule_alpha_bar("squaredcos_cap_v2", T_cos)
    sl = schedule_alpha_bar("scaled_linear", T_sl, dtype=torch.float64)
    return {"n10": Case((ab, ddim_timesteps(1000, pick(60, 10, 8, 20, 25)))),
            "n4": Case((ab, torch.tensor([750, 500, 250, 0]) if draw() == 0
                        else _visits(61, 4, 1000))),
            "cosine": Case((cos, _visits(63, pick(65, 6, 5, 9), T_cos))),
            "scaled_linear_f64": Case((sl, ddim_timesteps(T_sl, pick(66, 7, 9, 12)))),
            "one_step": Case((cos, _visits(67, 1, T_cos)))}


PROPS = Props()


@PROPS
def _shape(outs, refs):
    """decreasing and ending at 0

    after the noise levels of the visited timesteps comes a final 0: the last step lands on the
    model's guess of x0

    code: append one zero with torch.cat and torch.zeros(1)"""
    for name in cases():
        s = outs[name].value
        ok = s[-1].item() == 0.0 and bool((s[1:] < s[:-1]).all())
        if not ok:
            return False, (f"case '{name}': first {s[0]:.3g}, last {s[-1]:.3g}, "
                           f"decreasing: {bool((s[1:] < s[:-1]).all())}")
    return True, "on every case, with the timesteps given in descending order"


def _sigmas(ab, ts):
    return torch.cat([ddpm.alpha_bar_to_sigma(ab[ts]), torch.zeros(1)])


def _preallocated(ab, ts):  # a float32 buffer: float64 sigmas are rounded into it
    out = torch.zeros(len(ts) + 1)
    out[:-1] = ddpm.alpha_bar_to_sigma(ab[ts])
    return out


BUGS = {
    "no final zero": lambda ab, ts: ddpm.alpha_bar_to_sigma(ab[ts]),
    "sqrt(1 - alpha_bar)": lambda ab, ts: torch.cat([(1 - ab[ts]).sqrt(), torch.zeros(1)]),
    "ascending": lambda ab, ts: torch.cat([ddpm.alpha_bar_to_sigma(ab[ts]),
                                           torch.zeros(1)]).flip(0),
    "[held] the notebook's linear alpha_bar, not the argument":
        lambda ab, ts: _sigmas(linear_alpha_bar(), ts),
    "[held] rebuilds evenly spaced timesteps instead of using the given ones":
        lambda ab, ts: _sigmas(ab, ddim_timesteps(len(ab), len(ts))),
    "[dtype] a preallocated float32 result": _preallocated,
}
ALTERNATIVES = {
    "sqrt((1 - a) / a), padded with a 0": lambda ab, ts: torch.nn.functional.pad(
        ((1 - ab[ts]) / ab[ts]).sqrt(), (0, 1)),
}

PROPS("""matches the reference on the linear, cosine and scaled-linear schedules

      each visited timestep's noise level is the sigma of notebook 02's bridge, read from the
      alpha_bar you are given at that timestep, in the order the timesteps come

      code: alpha_bar[timesteps] picks them all at once; ddpm.alpha_bar_to_sigma (or yours)
      converts them; don't rebuild the timesteps""",
      close("n10", "n4", "cosine", "one_step", rtol=1e-4))

PROPS("""keeps float64 inputs in float64, to full precision

      compute with the tensors you are given: a float32 buffer or cast loses digits

      code: don't fill a preallocated torch.zeros(n + 1) (float32): concatenate instead""",
      close("scaled_linear_f64", atol=1e-12, rtol=1e-10))

EXERCISE = exercise(globals(), points=2,
                    summary="the sigma-view schedule of a timestep subsequence",
                    reread=r"5. DDIM in the $\sigma$ view: notebook 01's sampler")
