"""Exercise `ideal_eps` (notebook 04): the ideal denoiser for a finite data set K (eq. 5)."""
from __future__ import annotations

import torch

from course_lib.checking import Case, Props, close, exercise
from course_lib.exercises.nb04.probes import probe_K, probe_x, sq_dists
from course_lib.exercises.nb04.proj_K import proj_K


# <solution cell>
def ideal_eps(x: torch.Tensor, sigma: torch.Tensor, K: torch.Tensor) -> torch.Tensor:
    """eps* = (x - sum_i w_i k_i) / sigma, w = softmax(-||x - k||^2 / (2 sigma^2))."""
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
    return {"s1": Case((x, torch.tensor(1.0), K)), "s_batch": Case((x, sig, K)),
            "tiny": Case((x, torch.tensor(1e-3), K)), "huge": Case((x, torch.tensor(1e3), K))}


PROPS = Props()


@PROPS("tiny sigma: x - sigma*eps_hat is the projection",
       "the softmax weights concentrate on the nearest point as sigma -> 0")
def _tiny(outs, refs):
    K, x = probe_K(), probe_x()
    x0_hat = x - 1e-3 * outs["tiny"].value
    diff = (x0_hat - proj_K(x, K)).abs().max().item()
    return diff < 1e-3, f"at sigma = 0.001, max |x - sigma*eps_hat - proj_K(x)| = {diff:.1e}"


@PROPS("huge sigma: x - sigma*eps_hat is the mean of K",
       "normalise the weights over K (dim=1), not over the batch")
def _huge(outs, refs):
    K, x = probe_K(), probe_x()
    x0_hat = x - 1e3 * outs["huge"].value
    diff = (x0_hat - K.mean(0)).abs().max().item()
    return diff < 1e-2, f"at sigma = 1000, max |x0_hat - mean(K)| = {diff:.1e}"


def _sigma_column(sigma, x):
    return torch.as_tensor(sigma, dtype=x.dtype).expand(x.shape[0])[:, None]  # (B, 1)


def _ideal(x, sigma, K, two=2.0, dim=1, out="eps", power=1):
    sigma = _sigma_column(sigma, x)
    w = torch.softmax(-sq_dists(x, K) / (two * sigma**2), dim=dim)
    x0_hat = w @ K
    return x0_hat if out == "x0" else (x - x0_hat) / sigma**power


def _logsumexp_weights(x, sigma, K):
    logits = -sq_dists(x, K) / (2 * torch.as_tensor(sigma).expand(x.shape[0])[:, None] ** 2)
    w = torch.exp(logits - torch.logsumexp(logits, 1, keepdim=True))
    return (x - w @ K) / torch.as_tensor(sigma).expand(x.shape[0])[:, None]


BUGS = {
    "missing the 1/2": lambda x, s, K: _ideal(x, s, K, two=1.0),
    "softmax over the batch": lambda x, s, K: _ideal(x, s, K, dim=0),
    "returns x0_hat": lambda x, s, K: _ideal(x, s, K, out="x0"),
    "divides by sigma^2": lambda x, s, K: _ideal(x, s, K, power=2),
}
ALTERNATIVES = {"logsumexp weights": _logsumexp_weights}

PROPS("matches the reference at sigma = 1 and a batch of sigmas",
      "w = softmax(-||x - k||^2 / (2 sigma^2)) over k; x0_hat = w @ K; "
      "eps = (x - x0_hat) / sigma; with sigma of shape (B,) use sigma[:, None]",
      close("s1", "s_batch", atol=1e-5))

EXERCISE = exercise(globals(), points=3, summary="the ideal denoiser for a finite data set")
