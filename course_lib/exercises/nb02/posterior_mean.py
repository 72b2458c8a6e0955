"""Exercise `posterior_mean` (notebook 02): the mean of q(x_{t-1} | x_t, x0) (DDPM eq. 7)."""
from __future__ import annotations

import torch

from course_lib import ddpm
from course_lib.checking import Case, Props, close, exercise
from course_lib.exercises.common import gen
from course_lib.exercises.nb02.alpha_bars import alpha_bars
from course_lib.exercises.nb02.probes import alpha_bar_prev


# <solution cell>
def posterior_mean(x0: torch.Tensor, x_t: torch.Tensor, t: int,
                   alpha_bar: torch.Tensor) -> torch.Tensor:
    """Mean of q(x_{t-1} | x_t, x0) (DDPM eq. 7) at one integer timestep t."""
    ### BEGIN SOLUTION
    a_t = alpha_bar[t]
    a_prev = alpha_bar[t - 1] if t > 0 else torch.tensor(1.0)
    alpha = a_t / a_prev
    beta = 1 - alpha
    return (a_prev.sqrt() * beta * x0 + alpha.sqrt() * (1 - a_prev) * x_t) / (1 - a_t)
    ### END SOLUTION
# </solution cell>


def cases() -> dict[str, Case]:
    g = gen(11)
    ab = alpha_bars(ddpm.linear_betas())
    x0, x_t = torch.randn(5, 2, generator=g), torch.randn(5, 2, generator=g)
    on_mean = ab[300].sqrt() * x0
    return {"t500": Case((x0, x_t, 500, ab)), "t1": Case((x0, x_t, 1, ab)),
            "t0": Case((x0, x_t, 0, ab)), "on_mean": Case((x0, on_mean, 300, ab))}


PROPS = Props()


@PROPS("at t = 0 the mean is x0",
       "use alpha_bar_(t-1) = 1 when t = 0: then 1 - alpha_bar_t = beta_t")
def _t0(outs, refs):
    x0 = cases()["t0"].args[0]
    diff = (outs["t0"].value - x0).abs().max().item()
    return diff < 1e-4, f"at t = 0 (alpha_bar_-1 = 1) max |mean - x0| = {diff:.1e}, expected 0"


@PROPS("x_t = sqrt(alpha_bar_t) x0 gives sqrt(alpha_bar_(t-1)) x0",
       "the x0 weight is sqrt(alpha_bar_(t-1)) beta_t / (1 - alpha_bar_t); the x_t "
       "weight is sqrt(alpha_t) (1 - alpha_bar_(t-1)) / (1 - alpha_bar_t)")
def _on_mean(outs, refs):
    c = cases()["on_mean"].args
    want = c[3][299].sqrt() * c[0]
    diff = (outs["on_mean"].value - want).abs().max().item()
    return diff < 1e-5, (f"with x_t = sqrt(alpha_bar_t) x0 the mean should be "
                         f"sqrt(alpha_bar_(t-1)) x0: max diff {diff:.1e}")


def _post(x0, x_t, t, ab, swap=False, no_sqrt=False, prev_index=None):
    a_t = ab[t]
    a_prev = alpha_bar_prev(ab, t) if prev_index is None else ab[prev_index(t)]
    alpha = a_t / a_prev
    c0 = a_prev.sqrt() * (1 - alpha) / (1 - a_t)
    ct = (alpha if no_sqrt else alpha.sqrt()) * (1 - a_prev) / (1 - a_t)
    return (ct * x0 + c0 * x_t) if swap else (c0 * x0 + ct * x_t)


BUGS = {
    "swapped weights": lambda x0, xt, t, ab: _post(x0, xt, t, ab, swap=True),
    "alpha_t without sqrt": lambda x0, xt, t, ab: _post(x0, xt, t, ab, no_sqrt=True),
    "alpha_bar_t used as alpha_bar_(t-1)": lambda x0, xt, t, ab: _post(
        x0, xt, t, ab, prev_index=lambda t: t),
}

PROPS("matches the reference at t = 500 and t = 1",
      "alpha_t = alpha_bar[t] / alpha_bar[t - 1] and beta_t = 1 - alpha_t",
      close("t500", "t1"))

EXERCISE = exercise(globals(), points=2, summary="mean of q(x_{t-1} | x_t, x0)")
