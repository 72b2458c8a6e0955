"""Exercise `predict_x0` (notebook 01): the denoised guess x0_hat = x - sigma * eps_hat."""
from __future__ import annotations

import torch

from course_lib.checking import Case, Props, close, exercise
from course_lib.exercises.common import gen, per_sample
from course_lib.exercises.nb01.add_noise import add_noise


# <solution cell>
def predict_x0(x: torch.Tensor, sigma: torch.Tensor, eps_hat: torch.Tensor) -> torch.Tensor:
    """x0_hat = x - sigma * eps_hat. x, eps_hat: (B, *D); sigma: (B,). Returns (B, *D)."""
    ### BEGIN SOLUTION
    return x - sigma.reshape(-1, *[1] * (x.dim() - 1)) * eps_hat
    ### END SOLUTION
# </solution cell>


def cases() -> dict[str, Case]:
    g = gen(3)
    x0, eps = torch.randn(8, 2, generator=g), torch.randn(8, 2, generator=g)
    sigma = torch.exp(torch.linspace(-3, 2, 8))
    img, img_eps = torch.randn(2, 3, 4, 4, generator=g), torch.randn(2, 3, 4, 4, generator=g)
    sig2 = torch.tensor([0.5, 4.0])
    seq, seq_eps = torch.randn(2, 3, 5, generator=g), torch.randn(2, 3, 5, generator=g)
    return {"invert": Case((add_noise(x0, sigma, eps), sigma, eps)),
            "images": Case((add_noise(img, sig2, img_eps), sig2, img_eps)),
            "sequences": Case((add_noise(seq, sig2, seq_eps), sig2, seq_eps))}


PROPS = Props()


@PROPS("recovers x0 exactly when eps_hat is the true noise",
       "solve x = x0 + sigma*eps for x0: x0 = x - sigma*eps")
def _recovers_x0(outs, refs):
    x0 = torch.randn(8, 2, generator=gen(3))
    diff = (outs["invert"].value - x0).abs().max().item()
    return diff < 1e-5, f"max |x0_hat - x0| with the true noise = {diff:.2e}"


BUGS = {
    "adds instead of subtracts": lambda x, s, e: x + per_sample(s, x) * e,
    "sigma squared": lambda x, s, e: x - per_sample(s, x) ** 2 * e,
    "forgets sigma": lambda x, s, e: x - e,
    "returns the input": lambda x, s, e: x,
}

PROPS("works for any shape after the batch, one sigma per sample",
      "reshape sigma to broadcast over every dimension after the batch",
      close("images", "sequences"))

EXERCISE = exercise(globals(), points=2, summary="the denoised guess x0_hat = x - sigma * eps_hat")
