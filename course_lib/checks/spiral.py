"""Checks for notebook 01 (the 2D spiral): schedule, noising, sigma embedding, loss, x0 guess."""
from __future__ import annotations

import math

import torch
from torch import nn

from course_lib import spiral
from course_lib.checking import Case, Exercise, Prop, close

NB = "01_spiral"


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


# ------------------------------------------------------------------- sigma_schedule

def _schedule_cases():
    return {"small": Case((0.01, 10.0, 8)), "edm": Case((0.002, 80.0, 50)),
            "two": Case((1.0, 2.0, 2))}


def _endpoints(outs, refs):
    s = outs["small"].value
    ok = math.isclose(s[0].item(), 10.0, rel_tol=1e-4) and math.isclose(s[-1].item(), 0.01,
                                                                       rel_tol=1e-4)
    return ok, f"first {s[0].item():.4g} (expected 10), last {s[-1].item():.4g} (expected 0.01)"


def _constant_ratio(outs, refs):
    s = outs["edm"].value.double()
    ratio = s[1:] / s[:-1]
    spread = (ratio.max() - ratio.min()).item()
    return spread < 1e-4, f"sigma[i+1]/sigma[i] ranges over {ratio.min():.4f}..{ratio.max():.4f}"


# ------------------------------------------------------------------- add_noise

def _noise_cases():
    g = _gen(1)
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


def _zero_sigma_gives_x0(outs, refs):
    g = _noise_cases()["zero"].args[0]
    diff = (outs["zero"].value - g).abs().max().item()
    return diff == 0.0, f"max |x_sigma - x0| at sigma = 0 is {diff:.2e}, expected 0"


# ------------------------------------------------------------------- sigma_embedding

def _embedding_cases():
    return {"one": Case((torch.ones(3), 8)),
            "range": Case((torch.tensor([0.01, 0.1, 1.0, 3.0, 10.0]), 16)),
            "wide": Case((torch.exp(torch.linspace(-5, 3, 6)), 32))}


def _sigma_one(outs, refs):
    e = outs["one"].value
    sines, cosines = e[:, :4], e[:, 4:]
    ok = bool(torch.allclose(sines, torch.zeros_like(sines), atol=1e-6)
              and torch.allclose(cosines, torch.ones_like(cosines), atol=1e-6))
    return ok, f"at sigma = 1 the first half is {sines[0].tolist()}, second {cosines[0].tolist()}"


# ------------------------------------------------------------------- denoising_loss

class ProbeDenoiser(nn.Module):
    """A small fixed network the checks use as `denoiser`: depends on both x and sigma."""

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


def _loss_cases():
    g = _gen(2)
    x0, eps = torch.randn(16, 2, generator=g), torch.randn(16, 2, generator=g)
    sigma = torch.exp(torch.linspace(-4, 2, 16))
    return {"probe": Case((ProbeDenoiser(), x0, sigma, eps)),
            "small": Case((ProbeDenoiser(), x0[:3], sigma[:3], eps[:3])),
            "oracle": Case((OracleDenoiser(x0), x0, sigma, eps))}


def _oracle_zero(outs, refs):
    got = float(outs["oracle"].value)
    return abs(got) < 1e-6, f"loss of a perfect denoiser = {got:.3g}, expected 0"


def _keeps_graph(outs, refs):
    return outs["probe"].requires_grad, ("the loss requires grad" if outs["probe"].requires_grad
                                         else "the loss has no gradient to backpropagate")


# ------------------------------------------------------------------- predict_x0

def _x0_cases():
    g = _gen(3)
    x0, eps = torch.randn(8, 2, generator=g), torch.randn(8, 2, generator=g)
    sigma = torch.exp(torch.linspace(-3, 2, 8))
    img, img_eps = torch.randn(2, 3, 4, 4, generator=g), torch.randn(2, 3, 4, 4, generator=g)
    sig2 = torch.tensor([0.5, 4.0])
    seq, seq_eps = torch.randn(2, 3, 5, generator=g), torch.randn(2, 3, 5, generator=g)
    return {"invert": Case((spiral.add_noise(x0, sigma, eps), sigma, eps)),
            "images": Case((spiral.add_noise(img, sig2, img_eps), sig2, img_eps)),
            "sequences": Case((spiral.add_noise(seq, sig2, seq_eps), sig2, seq_eps))}


def _recovers_x0(outs, refs):
    g = _gen(3)
    x0 = torch.randn(8, 2, generator=g)
    diff = (outs["invert"].value - x0).abs().max().item()
    return diff < 1e-5, f"max |x0_hat - x0| with the true noise = {diff:.2e}"


EXERCISES = [
    Exercise(
        id="sigma_schedule", notebook=NB, points=2, reference=spiral.sigma_schedule,
        cases=_schedule_cases, summary="log-linear noise levels from sigma_max to sigma_min",
        props=[
            Prop("starts at sigma_max and ends at sigma_min", _endpoints,
                 "the schedule runs from the most noise to the least: sigma_max first"),
            Prop("constant ratio between neighbours (even in log sigma)", _constant_ratio,
                 "space log(sigma) evenly: exp(linspace(log(sigma_max), log(sigma_min), n))"),
            Prop("matches the reference for 8, 50 and 2 levels",
                 close("small", "edm", "two"),
                 "n levels includes both ends: torch.linspace(a, b, n) has n points"),
        ],
    ),
    Exercise(
        id="add_noise", notebook=NB, points=2, reference=spiral.add_noise, cases=_noise_cases,
        summary="x_sigma = x0 + sigma * eps with one sigma per sample",
        props=[
            Prop("sigma = 0 leaves x0 unchanged", _zero_sigma_gives_x0,
                 "the noise is scaled by sigma: x0 + sigma * eps"),
            Prop("matches x0 + sigma*eps on an (8, 2) batch, one sigma per row", close("batch"),
                 "sigma has shape (B,): reshape it to (B, 1) so row i gets sigma[i]; scale by "
                 "sigma, not sigma**2 (sigma is a standard deviation)"),
            Prop("works for any shape after the batch: (3, 3, 4, 4) and (2, 3, 5)",
                 close("images", "sequences"),
                 "reshape sigma to (B, 1, ..., 1) with one 1 per dimension after the batch: "
                 "sigma.view(-1, *[1] * (x0.dim() - 1))"),
        ],
    ),
    Exercise(
        id="sigma_embedding", notebook=NB, points=2, reference=spiral.sigma_embedding,
        cases=_embedding_cases, summary="sinusoidal features of log sigma",
        props=[
            Prop("at sigma = 1: sines are 0 and cosines are 1 (sines first)", _sigma_one,
                 "embed the natural log, torch.log(sigma) (log 1 = 0), not sigma; put the sin "
                 "block before the cos block"),
            Prop("matches the reference for dim 16 and 32",
                 close("range", "wide"),
                 "omega = torch.logspace(-2, 3, dim // 2, base=2): 1/4 up to 8, geometric; "
                 "angle = log(sigma)[:, None] * omega[None, :]"),
        ],
    ),
    Exercise(
        id="denoising_loss", notebook=NB, points=2, reference=spiral.denoising_loss,
        cases=_loss_cases, summary="mean squared error between predicted and true noise",
        props=[
            Prop("a perfect denoiser gets loss 0", _oracle_zero,
                 "the input is x0 + sigma*eps and the target is eps; square the error "
                 "(an absolute value or an unsquared norm is not the loss)"),
            Prop("matches the reference on a batch of 16 and of 3",
                 close("probe", "small"),
                 "call denoiser(x_sigma, sigma) on the noised points, square the error and "
                 "average over batch and coordinates (.mean(), not .sum())"),
            Prop("keeps the graph for backpropagation", _keeps_graph,
                 "return the tensor itself: .item(), .detach() or torch.no_grad() cut the graph"),
        ],
    ),
    Exercise(
        id="predict_x0", notebook=NB, points=2, reference=spiral.predict_x0, cases=_x0_cases,
        summary="the denoised guess x0_hat = x - sigma * eps_hat",
        props=[
            Prop("recovers x0 exactly when eps_hat is the true noise", _recovers_x0,
                 "solve x = x0 + sigma*eps for x0: x0 = x - sigma*eps"),
            Prop("works for any shape after the batch, one sigma per sample",
                 close("images", "sequences"),
                 "reshape sigma to broadcast over every dimension after the batch"),
        ],
    ),
]
