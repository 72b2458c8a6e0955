"""Exercise `sigma_embedding` (notebook 01): sinusoidal features of log sigma."""
from __future__ import annotations

import torch

from course_lib.checking import Case, Props, close, exercise
from course_lib.exercises.common import gen, pick


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
            "wide": Case((torch.exp(torch.linspace(-5, 3, 6)), 32)),
            "drawn": Case((torch.exp(2.5 * torch.randn(pick(5, 5, 3, 7, 2), generator=gen(5),
                                                       dtype=torch.float64)),
                           pick(6, 10, 14, 20, 40))),
            "one_row": Case((torch.exp(torch.randn(1, generator=gen(7))), pick(7, 6, 4, 12)))}


PROPS = Props()


@PROPS
def _sigma_one(outs, refs):
    """at sigma = 1: sines are 0 and cosines are 1 (sines first)

    the features are sines and cosines of the natural logarithm of sigma, which is 0 at sigma =
    1; the block of sines comes before the block of cosines

    code: embed torch.log(sigma), not sigma or torch.log10(sigma); torch.cat([sines, cosines],
    dim=1)"""
    e = outs["one"].value
    sines, cosines = e[:, :4], e[:, 4:]
    ok = bool(torch.allclose(sines, torch.zeros_like(sines), atol=1e-6)
              and torch.allclose(cosines, torch.ones_like(cosines), atol=1e-6))
    return ok, f"at sigma = 1 the first half is {sines[0].tolist()}, second {cosines[0].tolist()}"


def _linear_frequencies(s, d):
    angle = torch.log(s)[:, None] * torch.linspace(0.25, 8, d // 2)
    return torch.cat([torch.sin(angle), torch.cos(angle)], dim=1)


def _embed(s, d, log=torch.log, dtype="sigma's", device="sigma's"):
    """The planted answers' own embedding (calling the reference would trip its proxy line)."""
    omega = torch.logspace(-2, 3, d // 2, base=2.0, dtype=s.dtype if dtype == "sigma's" else dtype,
                           device=s.device if device == "sigma's" else device)
    angle = log(s)[:, None] * omega
    return torch.cat([torch.sin(angle), torch.cos(angle)], dim=1)


BUGS = {
    "sigma instead of log sigma": lambda s, d: _embed(s, d, log=lambda s: s),
    "cosines first": lambda s, d: _embed(s, d).roll(d // 2, dims=1),
    "linear frequencies": _linear_frequencies,
    "concatenated on the batch dim": lambda s, d: _embed(s, d).reshape(-1, d // 2),
    "sines and cosines interleaved": lambda s, d: _embed(s, d).reshape(
        -1, 2, d // 2).transpose(1, 2).reshape(-1, d),
    "log10 instead of the natural log": lambda s, d: _embed(s, d, log=torch.log10),
    "[held] 8 frequencies (dim 16) whatever dim is": lambda s, d: _embed(s, 16),
    "[held] squeezes a batch of one": lambda s, d: _embed(s, d).squeeze(),
    "[dtype] frequencies built in float32": lambda s, d: _embed(s, d, dtype=torch.float32),
    "[device] frequencies built on the CPU": lambda s, d: _embed(s, d, device=None),
    "[alias] takes the log of sigma in place": lambda s, d: _embed(s, d, log=torch.log_),
}
ALTERNATIVES = {
    "powers of two and an outer product": lambda s, d: torch.cat(
        [f(torch.outer(s.log(), 2.0 ** torch.linspace(-2, 3, d // 2, dtype=s.dtype,
                                                         device=s.device)))
         for f in (torch.sin, torch.cos)], dim=1),
}

PROPS("""matches the reference for dim 16 and 32

      half of dim is the number h of frequencies, spaced geometrically from 1/4 to 8 with both
      ends included; each feature is one row's log sigma times one frequency, through a sine or
      a cosine

      code: torch.logspace(-2, 3, h, base=2.0) gives the frequencies; all (B, h) angles at once
      are an outer product: index the log sigmas with [:, None] and the frequencies with [None,
      :]""",
      close("range", "wide"))

PROPS("""works for any even dim, a batch of one and float64 sigmas

      the number of frequencies follows the dim asked for; one sigma still gives one row; and
      the frequencies share sigma's dtype

      code: compute h from dim, never a fixed 8; don't .squeeze() the batch dimension away; pass
      dtype=sigma.dtype to torch.logspace""",
      close("drawn", "one_row", atol=1e-12, rtol=1e-10))

EXERCISE = exercise(globals(), points=2, summary="sinusoidal features of log sigma",
                    reread="4. Telling the network the noise level")
