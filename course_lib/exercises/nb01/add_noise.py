"""Exercise `add_noise` (notebook 01): x_sigma = x0 + sigma * eps, one sigma per sample."""
from __future__ import annotations

import torch

from course_lib.checking import Case, Props, close, exercise
from course_lib.exercises.common import gen, per_sample


# <solution cell>
def add_noise(x0: torch.Tensor, sigma: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
    """x_sigma = x0 + sigma * eps. x0, eps: (B, *D); sigma: (B,). Returns (B, *D)."""
    ### BEGIN SOLUTION
    return x0 + sigma.reshape(-1, *[1] * (x0.dim() - 1)) * eps
    ### END SOLUTION
# </solution cell>


def cases() -> dict[str, Case]:
    g = gen(1)
    x0, eps = torch.randn(8, 2, generator=g), torch.randn(8, 2, generator=g)
    sigma = torch.exp(torch.linspace(-3, 2, 8))
    img, img_eps = torch.randn(3, 3, 4, 4, generator=g), torch.randn(3, 3, 4, 4, generator=g)
    seq, seq_eps = torch.randn(2, 3, 5, generator=g), torch.randn(2, 3, 5, generator=g)
    return {
        "batch": Case((x0, sigma, eps)),
        "zero": Case((x0, torch.zeros(8), eps)),
        "images": Case((img, torch.tensor([0.1, 1.0, 5.0]), img_eps)),
        "sequences": Case((seq, torch.tensor([0.3, 3.0]), seq_eps)),
    }


PROPS = Props()


@PROPS("sigma = 0 leaves x0 unchanged",
       "the noise is scaled by sigma: x0 + sigma * eps")
def _zero_sigma_gives_x0(outs, refs):
    x0 = cases()["zero"].args[0]
    diff = (outs["zero"].value - x0).abs().max().item()
    return diff == 0.0, f"max |x_sigma - x0| at sigma = 0 is {diff:.2e}, expected 0"


def _in_place(x0, sigma, eps):
    x0 += per_sample(sigma, x0) * eps
    return x0


BUGS = {
    "sigma squared": lambda x0, s, e: x0 + per_sample(s, x0) ** 2 * e,
    "sqrt sigma": lambda x0, s, e: x0 + per_sample(s, x0).sqrt() * e,
    "broadcast only for 2-d": lambda x0, s, e: x0 + s[:, None] * e,
    "special-cases 2-d and 4-d": lambda x0, s, e: (
        x0 + s.view(-1, 1, 1, 1) * e if x0.dim() == 4 else x0 + s[:, None] * e),
    "ignores sigma": lambda x0, s, e: x0 + e,
    "returns the input": lambda x0, s, e: x0,
    "modifies x0 in place": _in_place,
}
ALTERNATIVES = {
    "view with a tuple": lambda x0, s, e: x0 + s.view((-1,) + (1,) * (x0.dim() - 1)) * e,
}

PROPS("matches x0 + sigma*eps on an (8, 2) batch, one sigma per row",
      "sigma has shape (B,): reshape it to (B, 1) so row i gets sigma[i]; scale by "
      "sigma, not sigma**2 (sigma is a standard deviation)",
      close("batch"))

PROPS("works for any shape after the batch: (3, 3, 4, 4) and (2, 3, 5)",
      "reshape sigma to (B, 1, ..., 1) with one 1 per dimension after the batch: "
      "sigma.view(-1, *[1] * (x0.dim() - 1))",
      close("images", "sequences"))

EXERCISE = exercise(globals(), points=2,
                    summary="x_sigma = x0 + sigma * eps with one sigma per sample")
