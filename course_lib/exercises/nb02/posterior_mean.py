"""Exercise `posterior_mean` (notebook 02): the mean of q(x_{t-1} | x_t, x0) (DDPM eq. 7)."""
from __future__ import annotations

import torch

from course_lib import ddpm
from course_lib.checking import Case, Props, close, equals, equals_input, exercise
from course_lib.exercises.common import gen, pick
from course_lib.exercises.nb02.alpha_bars import alpha_bars
from course_lib.exercises.nb02.probes import alpha_bar64, alpha_bar_prev, ddpm_scheduler


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
    h = gen(16)
    c0, c_t = torch.randn(5, 2, generator=h), torch.randn(5, 2, generator=h)
    T = pick(17, 1000, 500, 250)
    s0, s_t = torch.randn(1, 3, 4, 4, generator=h), torch.randn(1, 3, 4, 4, generator=h)
    f0, f_t = (torch.randn(3, 2, generator=h, dtype=torch.float64) for _ in range(2))
    ab64 = alpha_bar64(pick(18, "linear", "scaled_linear"), 300)
    return {"t500": Case((x0, x_t, 500, ab)), "t1": Case((x0, x_t, 1, ab)),
            "t0": Case((x0, x_t, 0, ab)), "on_mean": Case((x0, on_mean, 300, ab)),
            "cosine": Case((c0, c_t, pick(19, 700, 2, 999, 120),
                            ddpm_scheduler("squaredcos_cap_v2").alphas_cumprod)),
            "scaled_linear": Case((s0, s_t, min(pick(20, 400, 1, T - 1, T // 3), T - 1),
                                   ddpm_scheduler("scaled_linear", T).alphas_cumprod)),
            "float64": Case((f0, f_t, pick(21, 150, 1, 299), ab64)),
            "float64_t0": Case((f0, f_t, 0, ab64))}


PROPS = Props()


PROPS("""at t = 0 the mean is x0

      before step 0 no signal has been lost, so the previous alpha_bar counts as 1 when t is 0:
      then the weight of x0 becomes 1 and the weight of x_t becomes 0

      code: a_prev = alpha_bar[t - 1] only when t > 0, else 1.0; at t = 0, alpha_bar[-1] would
      read the last entry of the schedule""",
      equals_input(cases, "t0", 0, "x0", atol=1e-4))


PROPS("""x_t = sqrt(alpha_bar_t) x0 gives sqrt(alpha_bar_(t-1)) x0

      compare both weights with DDPM eq. 7: which alpha_bar, of t or of the step before, each one
      uses, and which factors carry a square root

      code: the x0 weight has sqrt(a_prev) and beta_t, the x_t weight sqrt(alpha_t) and (1 -
      a_prev); both are divided by 1 - a_t""",
      equals(cases, "on_mean", lambda x0, x_t, t, ab: ab[t - 1].sqrt() * x0,
             "sqrt(alpha_bar_(t-1)) x0"))


def _post(x0, x_t, t, ab, swap=False, no_sqrt=False, prev_index=None):
    a_t = ab[t]
    a_prev = alpha_bar_prev(ab, t) if prev_index is None else ab[prev_index(t)]
    alpha = a_t / a_prev
    c0 = a_prev.sqrt() * (1 - alpha) / (1 - a_t)
    ct = (alpha if no_sqrt else alpha.sqrt()) * (1 - a_prev) / (1 - a_t)
    return (ct * x0 + c0 * x_t) if swap else (c0 * x0 + ct * x_t)


def _no_guard(x0, x_t, t, ab):
    a_t, a_prev = ab[t], ab[t - 1]  # at t = 0 this reads the last alpha_bar
    alpha = a_t / a_prev
    return (a_prev.sqrt() * (1 - alpha) * x0 + alpha.sqrt() * (1 - a_prev) * x_t) / (1 - a_t)


BUGS = {
    "swapped weights": lambda x0, xt, t, ab: _post(x0, xt, t, ab, swap=True),
    "alpha_t without sqrt": lambda x0, xt, t, ab: _post(x0, xt, t, ab, no_sqrt=True),
    "alpha_bar_t used as alpha_bar_(t-1)": lambda x0, xt, t, ab: _post(
        x0, xt, t, ab, prev_index=lambda t: t),
    "[held] the notebook's linear schedule whatever alpha_bar is given":
        lambda x0, xt, t, ab: _post(x0, xt, t, alpha_bars(ddpm.linear_betas())),
    "[held] no t = 0 case (alpha_bar[t - 1] wraps to the last one)": _no_guard,
    "[dtype] coefficients in float32": lambda x0, xt, t, ab: _post(x0, xt, t, ab.float()),
    "[alias] returns x0 itself at t = 0":
        lambda x0, xt, t, ab: x0 if t == 0 else _post(x0, xt, t, ab),
}

PROPS("""matches the reference at t = 500 and t = 1

      the one-step alpha_t is the ratio of two consecutive alpha_bars (this one over the
      previous one), and beta_t is what alpha_t leaves of 1

      code: alpha = a_t / a_prev and beta = 1 - alpha, both from alpha_bar; don't use a stored
      beta""",
      close("t500", "t1"))

PROPS("""works for every schedule given, any t and any shape (a batch of one image)

      read alpha_bar at t and at the step before from the alpha_bar you are given, at the t
      given; the weights are numbers that apply to every element

      code: index the alpha_bar argument with t and t - 1; never rebuild a schedule""",
      close("cosine", "scaled_linear"))

PROPS("""keeps float64 precision, t = 0 included

      stay in the inputs' dtype, the t = 0 case included: no float32 step in between

      code: no .float() and no float32 buffers; at t = 0 a plain 1.0 can stand in for the
      previous alpha_bar""",
      close("float64", "float64_t0", atol=1e-12, rtol=1e-10))

EXERCISE = exercise(globals(), points=2, summary="mean of q(x_{t-1} | x_t, x0)",
                    reread=r"6. The posterior $q(x_{t-1} \mid x_t, x_0)$")
