"""Wrong answers a learner might plausibly write, per exercise id. Every one must fail its
check (tests/test_checks.py); every exercise needs at least two."""
import math

import torch

from course_lib import spiral


def _b(sigma, x):
    return sigma.reshape(-1, *[1] * (x.dim() - 1))


def _inplace_noise(x0, sigma, eps):
    x0 += _b(sigma, x0) * eps
    return x0


PLANTED_BUGS = {
    "mse": {
        "sum instead of mean": lambda a, b: ((a - b) ** 2).sum(),
        "no square (mean absolute error)": lambda a, b: (a - b).abs().mean(),
        "root mean square": lambda a, b: ((a - b) ** 2).mean().sqrt(),
        "mean over one dimension only": lambda a, b: ((a - b) ** 2).mean(dim=0),
        "forgot return": lambda a, b: None,
    },
    "sigma_schedule": {
        "linear spacing": lambda lo, hi, n: torch.linspace(hi, lo, n),
        "increasing order": lambda lo, hi, n: torch.exp(torch.linspace(math.log(lo),
                                                                       math.log(hi), n)),
        "off by one (n + 1 levels)": lambda lo, hi, n: torch.exp(
            torch.linspace(math.log(hi), math.log(lo), n + 1)),
        "float64 from numpy": lambda lo, hi, n: torch.tensor(
            __import__("numpy").geomspace(hi, lo, n)),
    },
    "add_noise": {
        "sigma squared": lambda x0, s, e: x0 + _b(s, x0) ** 2 * e,
        "sqrt sigma": lambda x0, s, e: x0 + _b(s, x0).sqrt() * e,
        "broadcast only for 2-d": lambda x0, s, e: x0 + s[:, None] * e,
        "special-cases 2-d and 4-d": lambda x0, s, e: (
            x0 + s.view(-1, 1, 1, 1) * e if x0.dim() == 4 else x0 + s[:, None] * e),
        "ignores sigma": lambda x0, s, e: x0 + e,
        "returns the input": lambda x0, s, e: x0,
        "modifies x0 in place": _inplace_noise,
    },
    "sigma_embedding": {
        "sigma instead of log sigma": lambda s, d: spiral.sigma_embedding(torch.exp(s), d),
        "cosines first": lambda s, d: spiral.sigma_embedding(s, d).roll(d // 2, dims=1),
        "linear frequencies": lambda s, d: torch.cat(
            [torch.sin(torch.log(s)[:, None] * torch.linspace(0.25, 8, d // 2)),
             torch.cos(torch.log(s)[:, None] * torch.linspace(0.25, 8, d // 2))], dim=1),
        "concatenated on the batch dim":
            lambda s, d: spiral.sigma_embedding(s, d).reshape(-1, d // 2),
    },
    "denoising_loss": {
        "denoiser sees x0": lambda f, x0, s, e: ((f(x0, s) - e) ** 2).mean(),
        "target is x0":
            lambda f, x0, s, e: ((f(spiral.add_noise(x0, s, e), s) - x0) ** 2).mean(),
        "sum instead of mean":
            lambda f, x0, s, e: ((f(spiral.add_noise(x0, s, e), s) - e) ** 2).sum(),
        "returns a float": lambda f, x0, s, e: spiral.denoising_loss(f, x0, s, e).item(),
        "detached": lambda f, x0, s, e: spiral.denoising_loss(f, x0, s, e).detach(),
        "absolute error": lambda f, x0, s, e: (f(spiral.add_noise(x0, s, e), s) - e).abs().mean(),
        "norm summed over coordinates":
            lambda f, x0, s, e: ((f(spiral.add_noise(x0, s, e), s) - e) ** 2).sum(1).mean(),
    },
    "predict_x0": {
        "adds instead of subtracts": lambda x, s, e: x + _b(s, x) * e,
        "sigma squared": lambda x, s, e: x - _b(s, x) ** 2 * e,
        "forgets sigma": lambda x, s, e: x - e,
        "returns the input": lambda x, s, e: x,
    },
}
