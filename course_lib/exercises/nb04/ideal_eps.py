"""Exercise `ideal_eps` (notebook 04): the ideal denoiser for a finite data set K (eq. 5)."""
from __future__ import annotations

import torch

from course_lib.checking import Case, Props, close, exercise
from course_lib.exercises.common import gen, pick
from course_lib.exercises.nb04.probes import probe_K, probe_x, sq_dists
from course_lib.exercises.nb04.proj_K import proj_K


# <solution cell>
def ideal_eps(x: torch.Tensor, sigma: torch.Tensor, K: torch.Tensor) -> torch.Tensor:
    """The ideal denoiser's noise prediction eps* of section 2 (paper, eq. 5) for the data
    set of K's rows. x: (B, D); sigma: a 0-dim tensor or (B,), one per row; K: (N, D).
    Returns (B, D) in x's dtype."""
    ### BEGIN SOLUTION
    sigma = torch.as_tensor(sigma, dtype=x.dtype).expand(x.shape[0])[:, None]  # (B, 1)
    sq = ((x[:, None, :] - K[None, :, :]) ** 2).sum(-1)                       # (B, N)
    w = torch.softmax(-sq / (2 * sigma**2), dim=1)
    return (x - w @ K) / sigma
    ### END SOLUTION
# </solution cell>


def cases() -> dict[str, Case]:
    K, x = probe_K(), probe_x()
    sig = torch.linspace(0.2, 3.0, 9)
    K3, x3 = probe_x(6, 3, 140, 1.0), probe_x(5, 3, 141)
    K64, x64 = probe_x(8, 2, 142, 1.0, torch.float64), probe_x(7, 2, 143, 1.5, torch.float64)
    sig64 = torch.exp(torch.rand(7, generator=gen(144), dtype=torch.float64) * 2 - 1.5)
    far = x + 10 * torch.sign(x)  # ~10 from every point of K: exp(-d^2 / 2 sigma^2) underflows
    return {"s1": Case((x, torch.tensor(pick(145, 1.0, 0.7, 1.6)), K)),
            "s_batch": Case((x, sig, K)),
            "tiny": Case((x, torch.tensor(pick(146, 1e-3, 5e-4, 2e-3)), K)),
            "huge": Case((x, torch.tensor(pick(147, 1e3, 5e2, 2e3)), K)),
            "3d": Case((x3, torch.tensor(pick(148, 0.5, 0.8, 1.2)), K3)),
            "batch1": Case((probe_x(1, 2, 149), torch.tensor([pick(150, 0.4, 0.9, 2.5)]), K)),
            "far": Case((far, torch.full((9,), pick(151, 0.5, 0.3, 0.8)), K)),
            "f64": Case((x64, sig64, K64))}


PROPS = Props()


@PROPS
def _tiny(outs, refs):
    """tiny sigma: x - sigma*eps_hat is the projection

    as sigma shrinks, the weights concentrate on the nearest point of K and the guess of x0
    becomes the projection; if not, check the exponent of the weights, and that eps is measured
    in units of sigma

    code: the logits are minus the squared distances over 2 * sigma**2; divide x - x0_hat by
    sigma once, not by sigma**2"""
    x, sigma, K = cases()["tiny"].args
    x0_hat = x - sigma * outs["tiny"].value
    diff = (x0_hat - proj_K(x, K)).abs().max().item()
    return diff < 1e-3, f"at sigma = {sigma:g}, max |x - sigma*eps_hat - proj_K(x)| = {diff:.1e}"


@PROPS
def _huge(outs, refs):
    """huge sigma: x - sigma*eps_hat is the mean of K

    as sigma grows, every point of K gets the same weight and the guess of x0 is the mean of K:
    the weights of one row of x must sum to 1 over K

    code: torch.softmax(..., dim=1) normalises over K; dim=0 normalises over the batch"""
    x, sigma, K = cases()["huge"].args
    x0_hat = x - sigma * outs["huge"].value
    diff = (x0_hat - K.mean(0)).abs().max().item()
    return diff < 1e-2, f"at sigma = {sigma:g}, max |x0_hat - mean(K)| = {diff:.1e}"


def _sigma_column(sigma, x):
    return torch.as_tensor(sigma, dtype=x.dtype).expand(x.shape[0])[:, None]  # (B, 1)


def _ideal(x, sigma, K, two=2.0, dim=1, out="eps", power=1, d2=None, sig=None, naive=False):
    sigma = _sigma_column(sigma, x) if sig is None else sig
    logits = -(sq_dists(x, K) if d2 is None else d2) / (two * sigma**2)
    if naive:  # exp then normalise: all weights underflow to 0 far from K
        w = logits.exp() / logits.exp().sum(dim, keepdim=True)
    else:
        w = torch.softmax(logits, dim=dim)
    x0_hat = w @ K
    return x0_hat if out == "x0" else (x - x0_hat) / sigma**power


def _logsumexp_weights(x, sigma, K):
    logits = -sq_dists(x, K) / (2 * torch.as_tensor(sigma).expand(x.shape[0])[:, None] ** 2)
    w = torch.exp(logits - torch.logsumexp(logits, 1, keepdim=True))
    return (x - w @ K) / torch.as_tensor(sigma).expand(x.shape[0])[:, None]


def _weighted_differences(x, sigma, K):  # sum_i w_i (x - k_i) / sigma: the same, regrouped
    s = _sigma_column(sigma, x)
    w = torch.softmax(-sq_dists(x, K) / (2 * s**2), dim=1)
    return (w[:, :, None] * (x[:, None] - K[None])).sum(1) / s


BUGS = {
    "missing the 1/2": lambda x, s, K: _ideal(x, s, K, two=1.0),
    "softmax over the batch": lambda x, s, K: _ideal(x, s, K, dim=0),
    "returns x0_hat": lambda x, s, K: _ideal(x, s, K, out="x0"),
    "divides by sigma^2": lambda x, s, K: _ideal(x, s, K, power=2),
    "exp, then normalise (underflows far from K)": lambda x, s, K: _ideal(x, s, K, naive=True),
    "[held] one sigma for the whole batch":
        lambda x, s, K: _ideal(x, s.reshape(-1)[0], K),
    "[held] a number sigma only (float(sigma))": lambda x, s, K: _ideal(x, float(s), K),
    "[held] a (B,) sigma only (sigma[:, None])":
        lambda x, s, K: _ideal(x, s, K, sig=s[:, None]),
    "[held] 2-d only (first two coordinates)":
        lambda x, s, K: _ideal(x, s, K, d2=sq_dists(x[:, :2], K[:, :2])),
    "[dtype] sigma as float32": lambda x, s, K: _ideal(
        x, s, K, sig=torch.as_tensor(s, dtype=torch.float32).expand(x.shape[0])[:, None]),
    "[dtype] computes in float32": lambda x, s, K: _ideal(x.float(), s.float(), K.float()),
}
ALTERNATIVES = {"logsumexp weights": _logsumexp_weights,
                "weighted differences": _weighted_differences}

PROPS("""matches the reference at one sigma and a batch of sigmas, in 3-d, for a batch of 1

      the weights are a softmax over K of minus the squared distance over twice sigma squared;
      x0_hat is the weighted average of K; eps is what separates x from x0_hat, in units of
      sigma; sigma is one number or one per row of x

      code: make sigma a (B, 1) column that works for both: torch.as_tensor(sigma,
      dtype=x.dtype).expand(x.shape[0])[:, None]; w @ K gives x0_hat, shape (B, D)""",
      close("s1", "s_batch", "3d", "batch1", atol=1e-5))

PROPS("""stable far from K (exp(-d^2 / 2 sigma^2) underflows there)

      far from K every exponential underflows to 0 and normalising them by hand divides 0 by 0;
      a softmax subtracts the largest logit before exponentiating

      code: use torch.softmax (or logsumexp), not exp(logits) / exp(logits).sum()""",
      close("far", atol=1e-4))

PROPS("""keeps float64 inputs in float64, to full precision

      compute with the tensors you are given: a float32 sigma or cast loses digits

      code: build the sigma column with dtype=x.dtype; no .float()""",
      close("f64", atol=1e-10, rtol=1e-10))

EXERCISE = exercise(globals(), points=3, summary="the ideal denoiser for a finite data set",
                    reread="2. The ideal denoiser")
