"""Exercise `alpha_bars` (notebook 02): alpha_bar_t, the signal fraction left after step t."""
from __future__ import annotations

import torch

from course_lib import ddpm
from course_lib.checking import Case, Props, close, exercise
from course_lib.exercises.common import pick
from course_lib.exercises.nb02.probes import betas64, ddpm_scheduler


# <solution cell>
def alpha_bars(betas: torch.Tensor) -> torch.Tensor:
    """The signal fraction alpha_bar_t left after steps 0..t, for every t. betas: (T,) -> (T,)"""
    ### BEGIN SOLUTION
    return torch.cumprod(1 - betas, dim=0)
    ### END SOLUTION
# </solution cell>


def _scaled_T() -> int:
    return pick(20, 500, 1000, 200, 77)


def cases() -> dict[str, Case]:
    return {"linear": Case((ddpm.linear_betas(),)), "cosine": Case((ddpm.cosine_betas(),)),
            "tiny": Case((torch.tensor([0.1, 0.2, 0.5]),)),
            "scaled_linear": Case((ddpm_scheduler("scaled_linear", _scaled_T()).betas,)),
            "float64": Case((betas64(pick(21, "linear", "scaled_linear"),
                                     pick(22, 300, 1000, 61)),)),
            "one_step": Case((torch.tensor([pick(23, 0.25, 0.01, 0.6, 0.999)]),))}


PROPS = Props()


@PROPS
def _first(outs, refs):
    """alpha_bar_0 = 1 - beta_0, then a running product

    alpha_bar_t multiplies the kept fractions alpha_s of every step s up to and including t: the
    first entry is already one such factor, and each next entry is the previous one times one
    more

    code: torch.cumprod(..., dim=0) keeps every partial product, the first one included; don't
    prepend a 1 or shift by one"""
    got = outs["tiny"].value
    return abs(got[0].item() - 0.9) < 1e-6, (f"betas [0.1, 0.2, 0.5] give "
                                             f"{[round(v, 4) for v in got.tolist()]}, "
                                             "expected [0.9, 0.72, 0.36]")


@PROPS
def _diffusers(outs, refs):
    """equals DDPMScheduler.alphas_cumprod (linear, cosine and scaled-linear)

    a product, not a sum; of the kept fractions alpha, not of beta; one value per beta given

    code: torch.cumprod multiplies cumulatively along dim=0: apply it to the alphas, not to
    betas, and not torch.cumsum"""
    worst = 0.0
    for kind, name, T in (("linear", "linear", 1000), ("squaredcos_cap_v2", "cosine", 1000),
                          ("scaled_linear", "scaled_linear", _scaled_T())):
        want = ddpm_scheduler(kind, T).alphas_cumprod
        got = outs[name].value
        if got.shape != want.shape:
            return False, f"{name} schedule of {T} steps: shape {tuple(got.shape)}"
        worst = max(worst, (got - want).abs().max().item())
    return worst < 1e-6, f"max |yours - DDPMScheduler.alphas_cumprod| = {worst:.1e}"


def _in_place(b):
    return torch.cumprod(b.neg_().add_(1), 0)


BUGS = {
    "cumprod of beta": lambda b: torch.cumprod(b, 0),
    "cumsum": lambda b: 1 - torch.cumsum(b, 0),
    "shifted by one": lambda b: torch.cat([torch.ones(1), torch.cumprod(1 - b, 0)[:-1]]),
    "no product": lambda b: 1 - b,
    "[held] the notebook's linear schedule whatever betas are given":
        lambda b: torch.cumprod(1 - ddpm.linear_betas(len(b)), 0),
    "[dtype] the product in float32": lambda b: torch.cumprod(1 - b.float(), 0).to(b.dtype),
    "[alias] turns betas into 1 - betas in place": _in_place,
}
ALTERNATIVES = {
    "a running product in a loop": lambda b: torch.stack(
        [torch.prod(1 - b[: t + 1]) for t in range(len(b))]),
    "exp of a cumulative sum of logs": lambda b: torch.exp(torch.cumsum(torch.log1p(-b), 0)),
}

PROPS("""matches the reference for other lengths and a single step

      nothing depends on T: one alpha_bar per beta given, whatever the schedule and its length,
      a single step included

      code: work on the betas argument only: don't rebuild ddpm.linear_betas() or assume 1000
      steps""",
      close("scaled_linear", "one_step"))

PROPS("""keeps float64 precision

      stay in the betas' own dtype all along: a float32 step loses the small betas' digits

      code: no .float(): arithmetic with plain numbers such as 1 keeps the betas' dtype""",
      close("float64", atol=1e-12, rtol=1e-9))

EXERCISE = exercise(globals(), points=2, summary="the signal fraction left after each step",
                    reread=r"2. $\bar\alpha_t$: how much signal is left after $t$ steps")
