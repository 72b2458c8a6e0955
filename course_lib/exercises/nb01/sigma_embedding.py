"""Exercise `sigma_embedding` (notebook 01): sinusoidal features of log sigma."""
from __future__ import annotations

import torch

from course_lib.checking import Case, Props, close, exercise


# <solution cell>
def sigma_embedding(sigma: torch.Tensor, dim: int) -> torch.Tensor:
    """Sinusoidal features of log(sigma). sigma: (B,) -> (B, dim), sines then cosines."""
    ### BEGIN SOLUTION
    omega = torch.logspace(-2, 3, dim // 2, base=2.0, dtype=sigma.dtype,
                           device=sigma.device)                 # (dim/2,)
    angle = torch.log(sigma)[:, None] * omega[None, :]          # (B, dim/2)
    return torch.cat([torch.sin(angle), torch.cos(angle)], dim=1)
    ### END SOLUTION
# </solution cell>


def cases() -> dict[str, Case]:
    return {"one": Case((torch.ones(3), 8)),
            "range": Case((torch.tensor([0.01, 0.1, 1.0, 3.0, 10.0]), 16)),
            "wide": Case((torch.exp(torch.linspace(-5, 3, 6)), 32))}


PROPS = Props()


@PROPS("at sigma = 1: sines are 0 and cosines are 1 (sines first)",
       "embed the natural log, torch.log(sigma) (log 1 = 0), not sigma; put the sin "
       "block before the cos block")
def _sigma_one(outs, refs):
    e = outs["one"].value
    sines, cosines = e[:, :4], e[:, 4:]
    ok = bool(torch.allclose(sines, torch.zeros_like(sines), atol=1e-6)
              and torch.allclose(cosines, torch.ones_like(cosines), atol=1e-6))
    return ok, f"at sigma = 1 the first half is {sines[0].tolist()}, second {cosines[0].tolist()}"


def _linear_frequencies(s, d):
    angle = torch.log(s)[:, None] * torch.linspace(0.25, 8, d // 2)
    return torch.cat([torch.sin(angle), torch.cos(angle)], dim=1)


BUGS = {
    "sigma instead of log sigma": lambda s, d: sigma_embedding(torch.exp(s), d),
    "cosines first": lambda s, d: sigma_embedding(s, d).roll(d // 2, dims=1),
    "linear frequencies": _linear_frequencies,
    "concatenated on the batch dim": lambda s, d: sigma_embedding(s, d).reshape(-1, d // 2),
}

PROPS("matches the reference for dim 16 and 32",
      "omega = torch.logspace(-2, 3, dim // 2, base=2): 1/4 up to 8, geometric; "
      "angle = log(sigma)[:, None] * omega[None, :]",
      close("range", "wide"))

EXERCISE = exercise(globals(), points=2, summary="sinusoidal features of log sigma")
