"""Exercise `cfg_eps` (notebook 05): the guided prediction eps_u + w * (eps_c - eps_u)."""
from __future__ import annotations

import torch

from course_lib.checking import Case, Props, close, exercise
from course_lib.exercises.common import gen


# <solution cell>
def cfg_eps(eps_uncond: torch.Tensor, eps_cond: torch.Tensor, w: float) -> torch.Tensor:
    """eps_u + w * (eps_c - eps_u)."""
    ### BEGIN SOLUTION
    return eps_uncond + w * (eps_cond - eps_uncond)
    ### END SOLUTION
# </solution cell>


def cases() -> dict[str, Case]:
    g = gen(41)
    u, c = torch.randn(6, 2, generator=g), torch.randn(6, 2, generator=g)
    return {"w1": Case((u, c, 1.0)), "w0": Case((u, c, 0.0)), "w7": Case((u, c, 7.5))}


PROPS = Props()


@PROPS("w = 1 gives the conditional prediction",
       "diffusers' convention: eps_u + w * (eps_c - eps_u), so w = 1 is no guidance "
       "(not eps_c + w * (eps_c - eps_u))")
def _cfg_w1(outs, refs):
    c = cases()["w1"].args[1]
    diff = (outs["w1"].value - c).abs().max().item()
    return diff < 1e-6, f"w = 1: max |result - eps_cond| = {diff:.1e}, expected 0"


@PROPS("w = 0 gives the unconditional prediction",
       "start from eps_uncond and add w times the difference")
def _cfg_w0(outs, refs):
    u = cases()["w0"].args[0]
    diff = (outs["w0"].value - u).abs().max().item()
    return diff < 1e-6, f"w = 0: max |result - eps_uncond| = {diff:.1e}, expected 0"


BUGS = {
    "1 + w convention": lambda u, c, w: u + (1 + w) * (c - u),
    "difference reversed": lambda u, c, w: u + w * (u - c),
    "scales the conditional only": lambda u, c, w: w * c,
}

PROPS("matches the reference at w = 7.5",
      "the difference is eps_cond - eps_uncond, in that order",
      close("w7"))

EXERCISE = exercise(globals(), points=2, summary="the guided prediction")
