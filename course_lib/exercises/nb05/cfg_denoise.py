"""Exercise `cfg_denoise` (notebook 05): classifier-free guidance with one batched denoiser call."""
from __future__ import annotations

import torch

from course_lib import guidance
from course_lib.checking import Case, Props, close, exercise
from course_lib.guidance import NULL


# <solution cell>
def cfg_denoise(denoiser, x: torch.Tensor, sigma, cond: torch.Tensor, w: float) -> torch.Tensor:
    """Guided eps_hat from one call of denoiser on the batch [x, x] with labels [NULL, cond]."""
    ### BEGIN SOLUTION
    sigma = torch.as_tensor(sigma, dtype=x.dtype, device=x.device).expand(x.shape[0])
    both = denoiser(torch.cat([x, x]), torch.cat([sigma, sigma]),
                    torch.cat([torch.full_like(cond, NULL), cond]))
    eps_uncond, eps_cond = both.chunk(2)
    return guidance.cfg_eps(eps_uncond, eps_cond, w)
    ### END SOLUTION
# </solution cell>


def probe_conditional() -> guidance.ConditionalDenoiser:
    """A small conditional network with fixed random weights, for probing cfg_denoise."""
    with torch.random.fork_rng():  # fixed weights without touching the learner's RNG
        torch.manual_seed(42)
        return guidance.ConditionalDenoiser(hidden=16, depth=1, emb_dim=4)


def cases() -> dict[str, Case]:
    g = torch.Generator().manual_seed(43)
    x = torch.randn(5, 2, generator=g)
    cond = torch.tensor([0, 1, 2, 1, 0])
    sigma = torch.tensor([0.1, 0.5, 1.0, 2.0, 5.0])
    return {"w1": Case((probe_conditional(), x, sigma, cond, 1.0)),
            "w0": Case((probe_conditional(), x, sigma, cond, 0.0)),
            "w3": Case((probe_conditional(), x, sigma, cond, 3.0)),
            "scalar_sigma": Case((probe_conditional(), x, torch.tensor(0.7), cond, 2.0))}


PROPS = Props()


@PROPS("w = 1 equals the conditional denoiser",
       "the conditional half uses cond; combine with cfg_eps")
def _den_w1(outs, refs):
    model, x, sigma, cond, _ = cases()["w1"].args
    with torch.no_grad():
        want = model(x, sigma, cond)
    diff = (outs["w1"].value - want).abs().max().item()
    return diff < 1e-5, f"w = 1: max |result - denoiser(x, sigma, cond)| = {diff:.1e}"


@PROPS("w = 0 equals the denoiser with the NULL label",
       "the unconditional half uses the NULL token (torch.full_like(cond, NULL)), "
       "not label 0")
def _den_w0(outs, refs):
    model, x, sigma, cond, _ = cases()["w0"].args
    with torch.no_grad():
        want = model(x, sigma, torch.full_like(cond, NULL))
    diff = (outs["w0"].value - want).abs().max().item()
    return diff < 1e-5, f"w = 0: max |result - denoiser(x, sigma, NULL)| = {diff:.1e}"


def _both(f, x, sigma, cond, uncond):
    sigma = torch.as_tensor(sigma).expand(x.shape[0])
    return f(x, sigma, uncond), f(x, sigma, cond)


def _sigmas(x, s):
    return torch.as_tensor(s).expand(x.shape[0])


BUGS = {
    "label 0 as unconditional": lambda f, x, s, c, w: guidance.cfg_eps(
        *_both(f, x, s, c, torch.zeros_like(c)), w),
    "no guidance": lambda f, x, s, c, w: f(x, _sigmas(x, s), c),
    "1 + w convention": lambda f, x, s, c, w: cfg_denoise(f, x, s, c, 1 + w),
}
ALTERNATIVES = {
    "two calls, None for unconditional": lambda f, x, s, c, w: guidance.cfg_eps(
        f(x, _sigmas(x, s), None), f(x, _sigmas(x, s), c), w),
}

PROPS("matches the reference at w = 3 and with a scalar sigma",
      "expand sigma to (B,) before concatenating it with itself",
      close("w3", "scalar_sigma"))

EXERCISE = exercise(globals(), points=3, summary="guidance with one batched denoiser call")
