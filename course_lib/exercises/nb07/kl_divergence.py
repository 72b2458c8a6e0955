"""Exercise `kl_divergence` (notebook 07): KL between the encoder's Gaussian and N(0, I)."""
from __future__ import annotations

import torch

from course_lib.checking import Case, Props, exercise
from course_lib.exercises.common import gen


# <solution cell>
def kl_divergence(mean: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """1/2 sum(mean^2 + exp(logvar) - 1 - logvar) per sample, mean over the batch (0-dim)."""
    ### BEGIN SOLUTION
    per_value = 0.5 * (mean**2 + logvar.exp() - 1 - logvar)
    return per_value.flatten(1).sum(1).mean()
    ### END SOLUTION
# </solution cell>


def cases() -> dict[str, Case]:
    g = gen(71)
    m, lv = torch.randn(4, 4, 8, 8, generator=g), torch.randn(4, 4, 8, 8, generator=g) * 0.5
    return {"random": Case((m, lv)), "prior": Case((torch.zeros(2, 4, 8, 8),
                                                    torch.zeros(2, 4, 8, 8)))}


PROPS = Props()


@PROPS("is 0 for mean 0, logvar 0",
       "each value contributes 1/2 (mean^2 + exp(logvar) - 1 - logvar)")
def _kl_prior(outs, refs):
    got = float(outs["prior"].value)
    return abs(got) < 1e-7, f"KL of N(0, 1) to N(0, 1) = {got:.2e}, expected 0"


@PROPS("equals torch.distributions' KL, summed per sample, averaged over the batch",
       "sum over every latent value of a sample (flatten(1).sum(1)), then "
       "the mean over the batch; exp(logvar) is the variance")
def _kl_torch(outs, refs):
    m, lv = cases()["random"].args
    d = torch.distributions
    want = d.kl_divergence(d.Normal(m, (0.5 * lv).exp()), d.Normal(0.0, 1.0)).flatten(1).sum(1)
    diff = abs(float(outs["random"].value) - want.mean().item())
    return diff < 1e-3, f"|yours - torch.distributions.kl_divergence| = {diff:.1e}"


def _kl(m, lv, half=True, reduce="sum", var="exp"):
    v = lv.exp() if var == "exp" else (0.5 * lv).exp()
    per = (0.5 if half else 1.0) * (m**2 + v - 1 - lv)
    return per.flatten(1).sum(1).mean() if reduce == "sum" else per.mean()


BUGS = {
    "missing the 1/2": lambda m, lv: _kl(m, lv, half=False),
    "mean over values, not sum": lambda m, lv: _kl(m, lv, reduce="mean"),
    "std in place of variance": lambda m, lv: _kl(m, lv, var="std"),
}

EXERCISE = exercise(
    globals(), points=2,
    summary="KL between the encoder's Gaussian and N(0, I)",
    proxies=lambda: (torch.distributions.kl.kl_divergence,))
