"""Exercise `kl_divergence` (notebook 07): KL between the encoder's Gaussian and N(0, I)."""
from __future__ import annotations

import torch

from course_lib.checking import Case, Props, exercise, is_zero
from course_lib.exercises.common import gen, pick


# <solution cell>
def kl_divergence(mean: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """The KL divergence of section 1 from N(mean, exp(logvar)) to N(0, I), summed over each
    sample's latent values, averaged over the batch. mean, logvar: (B, ...) -> 0-dim."""
    ### BEGIN SOLUTION
    per_value = 0.5 * (mean**2 + logvar.exp() - 1 - logvar)
    return per_value.flatten(1).sum(1).mean()
    ### END SOLUTION
# </solution cell>


def cases() -> dict[str, Case]:
    g = gen(71)
    m, lv = torch.randn(4, 4, 8, 8, generator=g), torch.randn(4, 4, 8, 8, generator=g) * 0.5
    h = gen(171)
    # other ranks and odd sizes: (B, D) vectors, (B, T, D) sequences, a batch of one;
    # the inputs require grad, as in the VAE's loss
    flat = pick(171, (5, 7), (3, 11), (7, 3))
    seq = pick(172, (3, 5, 7), (1, 3, 9), (5, 1, 3))
    m2, lv2 = torch.randn(flat, generator=h), 0.5 * torch.randn(flat, generator=h)
    m3 = torch.randn(seq, generator=h, dtype=torch.float64)
    lv3 = 0.5 * torch.randn(seq, generator=h, dtype=torch.float64)
    m1, lv1 = torch.randn(1, 3, 5, 5, generator=h), 0.5 * torch.randn(1, 3, 5, 5, generator=h)
    return {"random": Case((m, lv)), "prior": Case((torch.zeros(2, 4, 8, 8),
                                                    torch.zeros(2, 4, 8, 8))),
            "vectors": Case((m2.requires_grad_(), lv2.requires_grad_())),
            "sequences": Case((m3.requires_grad_(), lv3.requires_grad_())),
            "one": Case((m1, lv1.requires_grad_()))}


PROPS = Props()


PROPS("""is 0 for mean 0, logvar 0

      a Gaussian of mean 0 and variance 1 is the prior itself, so its divergence is 0: every
      latent value's term of the markdown's sum must vanish there

      code: with mean 0 and logvar 0 (variance logvar.exp() = 1), the four terms in the bracket
      are 0, 1, minus 1 and minus 0: is the minus 1 there?""",
      is_zero("prior", "KL of N(0, 1) to N(0, 1)", atol=1e-7))


def _per_sample_kl(m, lv):
    d = torch.distributions
    kl = d.kl_divergence(d.Normal(m, (0.5 * lv).exp()), d.Normal(0.0, 1.0))
    return kl.flatten(1).sum(1).mean().item()


@PROPS
def _kl_torch(outs, refs):
    """equals torch.distributions' KL, summed per sample, averaged over the batch

    the terms are summed over all of one sample's latent values (every axis but the batch axis,
    whatever the rank), then averaged over the samples; the variance is the exponential of
    logvar, and a factor one half stands in front

    code: flatten every axis after the first (.flatten(1)) and sum along it, then .mean() over
    the batch: a sum over dims (1, 2, 3) fits image latents only"""
    diff = 0.0
    for name in ("random", "vectors", "sequences", "one"):
        m, lv = (t.detach() for t in cases()[name].args)
        diff = max(diff, abs(float(outs[name].value) - _per_sample_kl(m, lv)))
    return diff < 1e-3, (f"|yours - torch.distributions.kl_divergence| = {diff:.1e} (latents "
                         "of shape (4, 4, 8, 8), (B, D), (B, T, D) and a batch of one)")


def _kl(m, lv, half=True, reduce="sum", var="exp"):
    v = lv.exp() if var == "exp" else (0.5 * lv).exp()
    per = (0.5 if half else 1.0) * (m**2 + v - 1 - lv)
    return per.flatten(1).sum(1).mean() if reduce == "sum" else per.mean()


def _image_dims(m, lv):
    return (0.5 * (m**2 + lv.exp() - 1 - lv)).sum(dim=(1, 2, 3)).mean()


def _last_dim(m, lv):
    return (0.5 * (m**2 + lv.exp() - 1 - lv)).sum(-1).mean()


def _float32_total(m, lv):
    total = torch.zeros(())
    for mi, lvi in zip(m, lv):
        total += 0.5 * (mi**2 + lvi.exp() - 1 - lvi).sum()
    return total / len(m)


BUGS = {
    "missing the 1/2": lambda m, lv: _kl(m, lv, half=False),
    "mean over values, not sum": lambda m, lv: _kl(m, lv, reduce="mean"),
    "std in place of variance": lambda m, lv: _kl(m, lv, var="std"),
    "[held] sums over dims (1, 2, 3) (image latents only)": _image_dims,
    "[held] sums over the last axis only": _last_dim,
    "[grad] returns a Python float": lambda m, lv: _kl(m, lv).item(),
    "[grad] rebuilt with torch.tensor(...)": lambda m, lv: torch.tensor(_kl(m, lv).item()),
    "[dtype] adds up in a float32 torch.zeros(())": _float32_total,
}
ALTERNATIVES = {
    "total over everything / batch size": lambda m, lv: (
        0.5 * (m**2 + lv.exp() - 1 - lv)).sum() / m.shape[0],
    "mean over the batch, then sum": lambda m, lv: (
        0.5 * (m.pow(2) + lv.exp() - 1 - lv)).mean(0).sum(),
}

EXERCISE = exercise(
    globals(), points=2,
    summary="KL between the encoder's Gaussian and N(0, I)",
    proxies=("torch.distributions.kl.kl_divergence",),
    reread="1. The VAE: an encoder that outputs a distribution")
