"""Exercise `ddim_noise_std` (notebook 03): the noise std of the DDIM update (eq. 16)."""
from __future__ import annotations

import torch

from course_lib.checking import Case, Props, close, equals, exercise, is_zero
from course_lib.exercises.common import pick
from course_lib.exercises.nb03.probes import linear_alpha_bar, schedule_alpha_bar, timestep_pairs


# <solution cell>
def ddim_noise_std(alpha_bar_t: torch.Tensor, alpha_bar_prev: torch.Tensor,
                   eta: float) -> torch.Tensor:
    """The std s of the fresh noise in a DDIM step from alpha_bar_t to alpha_bar_prev with
    stochasticity eta (section 2, DDIM eq. 16). Tensors of any (matching) shape."""
    ### BEGIN SOLUTION
    a_t, a_prev = alpha_bar_t, alpha_bar_prev
    return eta * ((1 - a_prev) / (1 - a_t) * (1 - a_t / a_prev)).sqrt()
    ### END SOLUTION
# </solution cell>


def cases() -> dict[str, Case]:
    ab = linear_alpha_bar()
    t, prev = timestep_pairs(50, 4, notebook=([999, 500, 100, 20], [899, 400, 80, 0]))
    cos = schedule_alpha_bar("squaredcos_cap_v2")
    tc, pc = timestep_pairs(52, 5, T=950)  # cosine: alpha_bar near t = 999 is ~1e-9
    sl = schedule_alpha_bar("scaled_linear", dtype=torch.float64)
    ts, ps = timestep_pairs(54, 3)
    one = torch.tensor(1.0)
    return {"eta0": Case((ab[t], ab[prev], 0.0)), "eta1": Case((ab[t], ab[prev], 1.0)),
            "eta_half": Case((ab[t], ab[prev], pick(51, 0.5, 0.3, 0.7, 0.25))),
            "cosine": Case((cos[tc], cos[pc], pick(53, 0.5, 0.2, 0.8, 1.0))),
            "scaled_linear_f64": Case((sl[ts], sl[ps], pick(55, 0.7, 0.3, 0.9, 0.45))),
            "one_step": Case((cos[tc[0]], cos[pc[0]], pick(56, 0.6, 0.35, 0.85))),
            "last_step": Case((ab[t[0]], one, pick(57, 1.0, 0.5, 0.75)))}


PROPS = Props()


PROPS("""eta = 0 gives no noise

      eta scales the whole standard deviation: at eta = 0 there is no fresh noise at all

      code: multiply by eta outside the square root""",
      is_zero("eta0", "the largest std at eta = 0"))


PROPS("""eta = 1 gives DDPM's posterior std sqrt(beta_tilde)

      at eta = 1 the std is DDPM's posterior std for this jump: the noise variance left after the
      jump over the one before it, times the jump's own beta, all under one square root

      code: two factors under one square root: (1 - a_prev) / (1 - a_t), and the jump's beta, one
      minus a_t / a_prev (a_t over a_prev, not the other way round)""",
      equals(cases, "eta1", lambda a_t, a_prev, eta: (
          (1 - a_prev) / (1 - a_t) * (1 - a_t / a_prev)).sqrt(), "sqrt(beta_tilde)"))


PROPS("""a last step to alpha_bar = 1 adds no noise

      at alpha_bar_prev = 1 the jump lands on x0 itself: the noise variance left after the jump
      is 0, and the std with it

      code: the factor (1 - a_prev) is 0 there: keep it multiplied inside the square root""",
      is_zero("last_step", "the std from alpha_bar_t to alpha_bar_prev = 1"))


def _std(a, p, eta):
    return eta * ((1 - p) / (1 - a) * (1 - a / p)).sqrt()


def _loops(a, p, eta):  # one jump at a time: fine for a batch, breaks on one step's 0-dim values
    return torch.stack([_std(a[i], p[i], eta) for i in range(len(a))])


BUGS = {
    "missing outer sqrt": lambda a, p, eta: eta * (1 - p) / (1 - a) * (1 - a / p),
    "ratio upside down": lambda a, p, eta: eta * ((1 - p) / (1 - a) * (1 - p / a)).abs().sqrt(),
    "ignores eta": lambda a, p, eta: ((1 - p) / (1 - a) * (1 - a / p)).sqrt(),
    "[held] batches only (loops over len(alpha_bar_t))": _loops,
    "[dtype] computes in float32": lambda a, p, eta: _std(a.float(), p.float(), eta),
    "[dtype] eta as a float32 tensor":
        lambda a, p, eta: torch.tensor(eta) * ((1 - p) / (1 - a) * (1 - a / p)).sqrt(),
}
ALTERNATIVES = {
    "two square roots": lambda a, p, eta: eta * ((1 - p) / (1 - a)).sqrt() * (1 - a / p).sqrt(),
    "over (a_prev - a_t) / a_prev": lambda a, p, eta: eta * ((1 - p) / (1 - a)
                                                             * (p - a) / p).sqrt(),
}

PROPS("""matches the reference at other eta, on the cosine and scaled-linear schedules

      the std grows linearly with eta, and the formula holds for any alpha_bar values of any
      shape, a single jump's 0-dim values included

      code: work on the tensors as a whole (no loop over len(alpha_bar_t)); multiply by eta as
      the plain number it is""",
      close("eta_half", "cosine", "one_step"))

PROPS("""keeps float64 inputs in float64, to full precision

      compute with the tensors you are given: a float32 constant or cast loses digits

      code: don't wrap eta in torch.tensor (float32) or call .float(); a Python float keeps the
      dtype""",
      close("scaled_linear_f64", atol=1e-12, rtol=1e-10))

EXERCISE = exercise(globals(), points=2, summary="the noise std of the DDIM update (eq. 16)",
                    reread="2. The DDIM update")
