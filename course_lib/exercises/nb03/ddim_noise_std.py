"""Exercise `ddim_noise_std` (notebook 03): the noise std of the DDIM update (eq. 16)."""
from __future__ import annotations

import torch

from course_lib.checking import Case, Props, close, exercise
from course_lib.exercises.nb03.probes import linear_alpha_bar


# <solution cell>
def ddim_noise_std(alpha_bar_t: torch.Tensor, alpha_bar_prev: torch.Tensor,
                   eta: float) -> torch.Tensor:
    """s = eta * sqrt((1 - a_prev) / (1 - a_t)) * sqrt(1 - a_t / a_prev) (DDIM eq. 16)."""
    ### BEGIN SOLUTION
    a_t, a_prev = alpha_bar_t, alpha_bar_prev
    return eta * ((1 - a_prev) / (1 - a_t) * (1 - a_t / a_prev)).sqrt()
    ### END SOLUTION
# </solution cell>


def cases() -> dict[str, Case]:
    ab = linear_alpha_bar()
    t, prev = torch.tensor([999, 500, 100, 20]), torch.tensor([899, 400, 80, 0])
    return {"eta0": Case((ab[t], ab[prev], 0.0)), "eta1": Case((ab[t], ab[prev], 1.0)),
            "eta_half": Case((ab[t], ab[prev], 0.5))}


PROPS = Props()


@PROPS("eta = 0 gives no noise",
       "the whole expression is scaled by eta")
def _zero(outs, refs):
    got = outs["eta0"].value.abs().max().item()
    return got == 0.0, f"max std at eta = 0: {got:.2e}, expected 0"


@PROPS("eta = 1 gives DDPM's posterior std sqrt(beta_tilde)",
       "sqrt((1 - a_prev) / (1 - a_t)) * sqrt(1 - a_t / a_prev): two square roots, "
       "and the ratio is a_t / a_prev (the alpha of that jump)")
def _ddpm(outs, refs):
    ab = linear_alpha_bar()
    t, prev = torch.tensor([999, 500, 100, 20]), torch.tensor([899, 400, 80, 0])
    a_t, a_prev = ab[t], ab[prev]
    want = ((1 - a_prev) / (1 - a_t) * (1 - a_t / a_prev)).sqrt()
    diff = (outs["eta1"].value - want).abs().max().item()
    return diff < 1e-5, f"max |std(eta=1) - sqrt(beta_tilde)| = {diff:.1e}"


BUGS = {
    "missing outer sqrt": lambda a, p, eta: eta * (1 - p) / (1 - a) * (1 - a / p),
    "ratio upside down": lambda a, p, eta: eta * ((1 - p) / (1 - a) * (1 - p / a)).abs().sqrt(),
    "ignores eta": lambda a, p, eta: ((1 - p) / (1 - a) * (1 - a / p)).sqrt(),
}

PROPS("matches the reference at eta = 0.5",
      "scale linearly by eta",
      close("eta_half"))

EXERCISE = exercise(globals(), points=2, summary="the noise std of the DDIM update (eq. 16)")
