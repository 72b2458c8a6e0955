"""Exercise `denoising_loss` (notebook 01): mean squared error between predicted and true noise."""
from __future__ import annotations

import torch
from torch import nn

from course_lib.checking import Case, Props, close, exercise
from course_lib.exercises.common import gen
from course_lib.exercises.nb01.add_noise import add_noise


# <solution cell>
def denoising_loss(denoiser, x0: torch.Tensor, sigma: torch.Tensor, eps: torch.Tensor):
    """mean ||denoiser(x0 + sigma*eps, sigma) - eps||^2 over batch and coordinates (0-dim)."""
    ### BEGIN SOLUTION
    x_sigma = add_noise(x0, sigma, eps)  # your answer above
    eps_hat = denoiser(x_sigma, sigma)
    return ((eps_hat - eps) ** 2).mean()
    ### END SOLUTION
# </solution cell>


class ProbeDenoiser(nn.Module):
    """A small fixed network the check uses as `denoiser`: depends on both x and sigma."""

    def __init__(self):
        super().__init__()
        with torch.random.fork_rng():  # fixed weights without touching the learner's RNG
            torch.manual_seed(0)
            self.lin = nn.Linear(3, 2)

    def forward(self, x, sigma, cond=None):
        sigma = torch.as_tensor(sigma, dtype=x.dtype).expand(x.shape[0])
        return torch.tanh(self.lin(torch.cat([x, torch.log(sigma)[:, None]], dim=1)))


class OracleDenoiser(nn.Module):
    """Knows x0, so it returns the exact noise (x - x0) / sigma: its loss must be 0."""

    def __init__(self, x0):
        super().__init__()
        self.x0 = x0.clone()

    def forward(self, x, sigma, cond=None):
        return (x - self.x0) / sigma[:, None]


def cases() -> dict[str, Case]:
    g = gen(2)
    x0, eps = torch.randn(16, 2, generator=g), torch.randn(16, 2, generator=g)
    sigma = torch.exp(torch.linspace(-4, 2, 16))
    return {"probe": Case((ProbeDenoiser(), x0, sigma, eps)),
            "small": Case((ProbeDenoiser(), x0[:3], sigma[:3], eps[:3])),
            "oracle": Case((OracleDenoiser(x0), x0, sigma, eps))}


PROPS = Props()


@PROPS("a perfect denoiser gets loss 0",
       "the input is x0 + sigma*eps and the target is eps; square the error "
       "(an absolute value or an unsquared norm is not the loss)")
def _oracle_zero(outs, refs):
    got = float(outs["oracle"].value)
    return abs(got) < 1e-6, f"loss of a perfect denoiser = {got:.3g}, expected 0"


def _noised(x0, s, e):
    return add_noise(x0, s, e)


BUGS = {
    "denoiser sees x0": lambda f, x0, s, e: ((f(x0, s) - e) ** 2).mean(),
    "target is x0": lambda f, x0, s, e: ((f(_noised(x0, s, e), s) - x0) ** 2).mean(),
    "sum instead of mean": lambda f, x0, s, e: ((f(_noised(x0, s, e), s) - e) ** 2).sum(),
    "returns a float": lambda f, x0, s, e: denoising_loss(f, x0, s, e).item(),
    "detached": lambda f, x0, s, e: denoising_loss(f, x0, s, e).detach(),
    "absolute error": lambda f, x0, s, e: (f(_noised(x0, s, e), s) - e).abs().mean(),
    "norm summed over coordinates":
        lambda f, x0, s, e: ((f(_noised(x0, s, e), s) - e) ** 2).sum(1).mean(),
}

PROPS("matches the reference on a batch of 16 and of 3",
      "call denoiser(x_sigma, sigma) on the noised points, square the error and "
      "average over batch and coordinates (.mean(), not .sum())",
      close("probe", "small"))

EXERCISE = exercise(globals(), points=2,
                    summary="mean squared error between predicted and true noise")
