"""Exercise `alpha_bars` (notebook 02): alpha_bar_t, the cumulative product of 1 - beta."""
from __future__ import annotations

import torch

from course_lib import ddpm
from course_lib.checking import Case, Props, exercise
from course_lib.exercises.nb02.probes import ddpm_scheduler


# <solution cell>
def alpha_bars(betas: torch.Tensor) -> torch.Tensor:
    """alpha_bar_t = prod_{s <= t} (1 - beta_s). betas: (T,) -> (T,)"""
    ### BEGIN SOLUTION
    return torch.cumprod(1 - betas, dim=0)
    ### END SOLUTION
# </solution cell>


def cases() -> dict[str, Case]:
    return {"linear": Case((ddpm.linear_betas(),)), "cosine": Case((ddpm.cosine_betas(),)),
            "tiny": Case((torch.tensor([0.1, 0.2, 0.5]),))}


PROPS = Props()


@PROPS("alpha_bar_0 = 1 - beta_0, then a running product",
       "alpha_bar_t = (1 - beta_0)(1 - beta_1)...(1 - beta_t): "
       "torch.cumprod(1 - betas, 0)")
def _first(outs, refs):
    got = outs["tiny"].value
    return abs(got[0].item() - 0.9) < 1e-6, (f"betas [0.1, 0.2, 0.5] give "
                                             f"{[round(v, 4) for v in got.tolist()]}, "
                                             "expected [0.9, 0.72, 0.36]")


@PROPS("equals DDPMScheduler.alphas_cumprod (linear and cosine)",
       "a product, not a sum; of alpha = 1 - beta, not of beta")
def _diffusers(outs, refs):
    worst = 0.0
    for kind, name in (("linear", "linear"), ("squaredcos_cap_v2", "cosine")):
        diff = (outs[name].value - ddpm_scheduler(kind).alphas_cumprod).abs().max().item()
        worst = max(worst, diff)
    return worst < 1e-6, f"max |yours - DDPMScheduler.alphas_cumprod| = {worst:.1e}"


BUGS = {
    "cumprod of beta": lambda b: torch.cumprod(b, 0),
    "cumsum": lambda b: 1 - torch.cumsum(b, 0),
    "shifted by one": lambda b: torch.cat([torch.ones(1), torch.cumprod(1 - b, 0)[:-1]]),
    "no product": lambda b: 1 - b,
}

EXERCISE = exercise(globals(), points=2, summary="cumulative product of 1 - beta")
