"""Exercise `alpha_bar_to_sigma` (notebook 02): the sigma view's noise level of a DDPM step."""
from __future__ import annotations

import torch

from course_lib import ddpm
from course_lib.checking import Case, Props, close, exercise
from course_lib.exercises.common import gen, pick
from course_lib.exercises.nb02.alpha_bars import alpha_bars
from course_lib.exercises.nb02.probes import alpha_bar64, ddpm_scheduler


# <solution cell>
def alpha_bar_to_sigma(alpha_bar: torch.Tensor) -> torch.Tensor:
    """The sigma-view noise level of each alpha_bar (a tensor of any shape, elementwise)."""
    ### BEGIN SOLUTION
    return (1 / alpha_bar - 1).sqrt()
    ### END SOLUTION
# </solution cell>


def _known() -> tuple[list[float], list[float]]:
    """alpha_bar values with simple sigmas (sigma = sqrt(1 / alpha_bar - 1))."""
    sigmas = pick(30, [0.0, 1.0, 2.0], [0.0, 3.0, 0.5], [0.0, 0.75, 7.0], [0.0, 4.0, 1.0])
    return [1 / (1 + s * s) for s in sigmas], sigmas


def cases() -> dict[str, Case]:
    g = gen(31)
    T = pick(32, 1000, 500, 250)
    grid = torch.rand(3, 4, generator=g, dtype=torch.float64) * 0.98 + 0.01
    return {"simple": Case((torch.tensor(_known()[0]),)),
            "linear": Case((alpha_bars(ddpm.linear_betas()),)),
            "cosine": Case((ddpm_scheduler("squaredcos_cap_v2", T).alphas_cumprod,)),
            "float64": Case((alpha_bar64(pick(33, "scaled_linear", "linear"), T),)),
            "grid": Case((grid,)),
            "one_step": Case((ddpm_scheduler("scaled_linear", T).alphas_cumprod[
                int(torch.randint(0, T, (), generator=g))],))}


PROPS = Props()


@PROPS
def _simple(outs, refs):
    """alpha_bar = 1, 0.5, 0.2 give sigma = 0, 1, 2

    divide x_t by its signal weight, the square root of alpha_bar: what then multiplies eps is
    sigma, the square root of a noise-to-signal ratio

    code: the noise variance is 1 - alpha_bar and the signal variance alpha_bar; sigma is the
    .sqrt() of their ratio"""
    alpha_bar, want = _known()
    got = outs["simple"].value.tolist()
    ok = all(abs(a - b) < 1e-5 * max(1.0, b) for a, b in zip(got, want))
    return ok, (f"alpha_bar {[round(a, 4) for a in alpha_bar]} -> "
                f"{[round(v, 4) for v in got]}, expected {want}")


def _in_place(ab):
    return ab.reciprocal_().sub_(1).sqrt_()


BUGS = {
    "sqrt(1 - alpha_bar)": lambda ab: (1 - ab).sqrt(),
    "no square root": lambda ab: 1 / ab - 1,
    "sqrt(1 / alpha_bar)": lambda ab: (1 / ab).sqrt(),
    "[held] loops over a 1-d tensor": lambda ab: torch.stack([(1 / a - 1).sqrt() for a in ab]),
    "[held] flattens to 1-d": lambda ab: (1 / ab - 1).sqrt().reshape(-1),
    "[dtype] computes in float32": lambda ab: (1 / ab.float() - 1).sqrt().to(ab.dtype),
    "[alias] works in place on alpha_bar": _in_place,
}
ALTERNATIVES = {
    "sqrt((1 - alpha_bar) / alpha_bar)": lambda ab: ((1 - ab) / ab).sqrt(),
    "sqrt(1 - alpha_bar) / sqrt(alpha_bar)": lambda ab: (1 - ab).sqrt() / ab.sqrt(),
}

PROPS("""matches the reference on the linear schedule

      sigma is the square root of the noise-to-signal ratio, the noise variance over the signal
      variance, not the square root of the noise variance alone

      code: (1 - alpha_bar).sqrt() alone is the DDPM noise weight, not sigma; without the
      .sqrt() you get sigma squared""",
      close("linear", rtol=1e-4))

PROPS("""works elementwise: the cosine schedule and a single (0-dim) alpha_bar

      apply the formula to every element, whatever the shape (a 0-dim tensor included)

      code: tensor arithmetic is elementwise on any shape: no loop over elements, no
      .reshape(-1) or flatten""",
      close("cosine", "one_step", rtol=1e-4))

PROPS("""keeps float64 precision (a float64 schedule, a (3, 4) grid)

      stay in alpha_bar's own dtype, whatever its shape: no float32 step in between

      code: no .float() or fresh torch.tensor constants; plain numbers such as 1 keep the dtype""",
      close("float64", "grid", atol=1e-12, rtol=1e-9))

EXERCISE = exercise(globals(), points=1, summary="the sigma view's noise level of a DDPM step",
                    reread=r"4. The bridge to the $\sigma$ view")
