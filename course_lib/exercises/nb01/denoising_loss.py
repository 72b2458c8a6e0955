"""Exercise `denoising_loss` (notebook 01): mean squared error between predicted and true noise."""
from __future__ import annotations

import torch
from torch import nn

from course_lib.checking import Case, Props, close, exercise, is_zero
from course_lib.exercises.common import gen, per_sample, pick, seeded
from course_lib.exercises.nb01.add_noise import add_noise
from course_lib.exercises.toy_models import ProbeConv


# <solution cell>
def denoising_loss(denoiser, x0: torch.Tensor, sigma: torch.Tensor, eps: torch.Tensor):
    """The loss L of section 5 on one batch: noise x0 with eps at the levels sigma, ask
    denoiser(x, sigma) for the noise, score its guess. A 0-dim tensor that backpropagates."""
    ### BEGIN SOLUTION
    x_sigma = add_noise(x0, sigma, eps)  # your answer above
    eps_hat = denoiser(x_sigma, sigma)
    return ((eps_hat - eps) ** 2).mean()
    ### END SOLUTION
# </solution cell>


class ProbeDenoiser(nn.Module):
    """A small fixed network the check uses as `denoiser`: depends on both x and sigma."""

    def __init__(self, n: int = 0):
        super().__init__()
        with seeded(n):  # weights of probe n, without touching the learner's RNG
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
    h = gen(8)
    img, img_eps = torch.randn(3, 2, 4, 4, generator=h), torch.randn(3, 2, 4, 4, generator=h)
    img_sigma = torch.exp(torch.randn(3, generator=h))
    b = pick(9, 5, 1, 7, 4)
    d0, d_eps = (torch.randn(b, 2, generator=h, dtype=torch.float64) for _ in range(2))
    d_sigma = torch.exp(torch.rand(b, generator=h, dtype=torch.float64) * 7.5 - 5)
    return {"probe": Case((ProbeDenoiser(), x0, sigma, eps)),
            "small": Case((ProbeDenoiser(), x0[:3], sigma[:3], eps[:3])),
            "oracle": Case((OracleDenoiser(x0), x0, sigma, eps)),
            "images": Case((ProbeConv(10), img, img_sigma, img_eps)),
            "one": Case((ProbeDenoiser(11), d0[:1].float(), d_sigma[:1].float(),
                         d_eps[:1].float())),
            "float64": Case((ProbeDenoiser(12).double(), d0, d_sigma, d_eps))}


PROPS = Props()


PROPS("""a perfect denoiser gets loss 0

      the denoiser sees the noisy points x_sigma and is scored against the noise eps that made
      them, with a squared error: a denoiser that returns exactly that noise scores 0

      code: noise x0 with your add_noise, call the denoiser on the result and compare its output
      with eps (not x0); square the error, no .abs() and no unsquared norm""",
      is_zero("oracle", "loss of a perfect denoiser", atol=1e-6))


def _noised(x0, s, e):
    return add_noise(x0, s, e)


def _no_grad(f, x0, s, e):
    with torch.no_grad():
        return ((f(_noised(x0, s, e), s) - e) ** 2).mean()


def _noises_x0_in_place(f, x0, s, e):
    x0 += per_sample(s, x0) * e
    return ((f(x0, s) - e) ** 2).mean()


BUGS = {
    "denoiser sees x0": lambda f, x0, s, e: ((f(x0, s) - e) ** 2).mean(),
    "target is x0": lambda f, x0, s, e: ((f(_noised(x0, s, e), s) - x0) ** 2).mean(),
    "sum instead of mean": lambda f, x0, s, e: ((f(_noised(x0, s, e), s) - e) ** 2).sum(),
    "returns a float": lambda f, x0, s, e: denoising_loss(f, x0, s, e).item(),
    "detached": lambda f, x0, s, e: denoising_loss(f, x0, s, e).detach(),
    "absolute error": lambda f, x0, s, e: (f(_noised(x0, s, e), s) - e).abs().mean(),
    "norm summed over coordinates":
        lambda f, x0, s, e: ((f(_noised(x0, s, e), s) - e) ** 2).sum(1).mean(),
    "[held] noises with a (B, 1) sigma (2-d points only)":
        lambda f, x0, s, e: ((f(x0 + s[:, None] * e, s) - e) ** 2).mean(),
    "[held] the first sigma for the whole batch":
        lambda f, x0, s, e: ((f(x0 + s[0] * e, s) - e) ** 2).mean(),
    "[grad] under torch.no_grad()": _no_grad,
    "[grad] torch.tensor of the loss's value":
        lambda f, x0, s, e: torch.tensor(((f(_noised(x0, s, e), s) - e) ** 2).mean().item()),
    "[rng] draws its own noise": lambda f, x0, s, e: (
        lambda n: ((f(_noised(x0, s, n), s) - n) ** 2).mean())(torch.randn_like(x0)),
    "[alias] noises x0 in place": _noises_x0_in_place,
    "[dtype] averages in float32":
        lambda f, x0, s, e: ((f(_noised(x0, s, e), s) - e) ** 2).float().mean(),
}
ALTERNATIVES = {
    "F.mse_loss": lambda f, x0, s, e: nn.functional.mse_loss(f(_noised(x0, s, e), s), e),
}

PROPS("""matches the reference on a batch of 16 and of 3

      L is the mean of the squared error over the batch and the coordinates together, which is
      what the 1/(2B) of the formula does for 2-d points: a mean, not a sum

      code: call denoiser(x_sigma, sigma) on the noised batch; one .mean() over all the squared
      errors, not .sum() and not a sum over coordinates first""",
      close("probe", "small"))

PROPS("""works for images and for a batch of one

      nothing in the loss depends on the data's shape or the batch size: noise every sample with
      its own sigma, whatever follows the batch dimension

      code: use your add_noise, which broadcasts sigma for any rank, rather than sigma[:, None]
      or sigma[0]""",
      close("images", "one"))

PROPS("""keeps float64 precision

      no float32 step in between: stay in the inputs' dtype from the noising to the mean

      code: no .float() anywhere; .mean() and F.mse_loss keep float64""",
      close("float64", atol=1e-12, rtol=1e-10))

EXERCISE = exercise(globals(), points=2,
                    summary="mean squared error between predicted and true noise",
                    reread="5. The denoiser and its loss")
