"""Shared by notebook 12's exercise files: small velocity models and denoisers with seeded
weights, exact ones with known answers (the flow of a finite set, of a Gaussian), and the
models that show what a bridge between the two views does with them."""
from __future__ import annotations

import torch
from torch import nn

from course_lib.checking import Case
from course_lib.exercises.common import gen, seeded
from course_lib.exercises.toy_models import ProbeConv


def per_time(t, x: torch.Tensor) -> torch.Tensor:
    """t (a number, 0-dim or (B,)) as (B,) in x's dtype: what the probe models accept."""
    return torch.as_tensor(t, dtype=x.dtype).expand(x.shape[0])


class ProbeVelocity(nn.Module):
    """A small fixed network v(x_t, t) on 2-d points that depends on x and on t."""

    def __init__(self, n: int, d: int = 2):
        super().__init__()
        with seeded(n):
            self.lin = nn.Linear(d + 1, 16)
            self.out = nn.Linear(16, d)

    def forward(self, x, t, cond=None):
        t = per_time(t, x)
        return self.out(torch.tanh(self.lin(torch.cat([x, 4 * t[:, None] - 2], dim=1))))


class ProbeConvVelocity(ProbeConv):
    """The same for images (B, C, H, W): a 3x3 convolution of x and a channel holding 4t - 2."""

    def __init__(self, n: int, channels: int = 2):
        super().__init__(n, channels, feature=lambda t: 4 * t - 2)


class ProbeDenoiser(nn.Module):
    """A small fixed sigma-view denoiser eps(x_sigma, sigma) on 2-d points."""

    def __init__(self, n: int):
        super().__init__()
        with seeded(n):
            self.lin = nn.Linear(3, 2)

    def forward(self, x, sigma, cond=None):
        sigma = per_time(sigma, x)
        return torch.tanh(self.lin(torch.cat([x / (1 + sigma[:, None]),
                                               torch.log(sigma)[:, None]], dim=1)))


def flow_of(K: torch.Tensor):
    """The exact velocity of the data set K (N, D), v(x_t, t) = (x_t - E[x0 | x_t]) / t,
    computed here in the t view (independently of the sigma view), in x's dtype."""
    def velocity(x, t, cond=None):
        t = per_time(t, x)[:, None]                                      # (B, 1)
        k = K.to(x.dtype)
        sq = ((x[:, None, :] - (1 - t)[:, :, None] * k[None]) ** 2).sum(-1)  # (B, N)
        w = torch.softmax(-sq / (2 * t**2), dim=1)
        return (x - w @ k) / t
    return velocity


def denoiser_of(K: torch.Tensor):
    """The exact sigma-view denoiser of K (notebook 04's ideal eps_hat, from the
    softmax-weighted mean of K), computed here, in x's dtype; sigma: (B,)."""
    def denoiser(x, sigma, cond=None):
        k = K.to(x.dtype)
        sq = ((x[:, None, :] - k[None]) ** 2).sum(-1)                  # (B, N)
        w = torch.softmax(-sq / (2 * sigma[:, None] ** 2), dim=1)
        return (x - w @ k) / sigma[:, None]
    return denoiser


def gaussian_flow(s: float, t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """The exact velocity for data ~ N(0, s^2 I) at (x_t, t), any rank: a multiple of x_t."""
    t = per_time(t, x).reshape(-1, *[1] * (x.dim() - 1))
    return (t - (1 - t) * s**2) * x / ((1 - t) ** 2 * s**2 + t**2)


def points_set(n: int, seed: int) -> torch.Tensor:
    """n points in 2-d, spread about like the spiral. (n, 2)"""
    return torch.randn(n, 2, generator=gen(seed))


def descending_times(n: int, steps: int, start: float = 1.0, end: float = 0.0,
                     dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """steps + 1 times from start down to end with uneven gaps, drawn for probe n."""
    gaps = 0.2 + torch.rand(steps, generator=gen(n), dtype=dtype)
    inner = start - (start - end) * gaps.cumsum(0) / gaps.sum()
    return torch.cat([torch.tensor([start], dtype=dtype), inner[:-1],
                      torch.tensor([end], dtype=dtype)])


def answers_zero(x, when):
    return torch.zeros_like(x)


def answers_one(x, when):
    return torch.ones_like(x)


def answers_when(x, when):
    """A model that answers with the time (or level) it was asked at, on every entry."""
    when = torch.as_tensor(when, dtype=x.dtype).reshape(-1, *[1] * (x.dim() - 1))
    return when.expand_as(x).clone()


SHOWING = ("answers 0", "answers 1", "answers its time or level")  # the cases' names


def showing_cases(x: torch.Tensor, when: torch.Tensor) -> dict[str, Case]:
    """The three cases that take a bridge apart: the models above, at the points x and the
    times (or levels) when."""
    return {name: Case((model, x.clone(), when.clone()))
            for name, model in zip(SHOWING, (answers_zero, answers_one, answers_when))}


def take_apart(outs) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """A bridge's results for the three models above: its result for the model that answers
    0, the weight it gave the model's answer, and the time or level it asked at (both per
    sample: the bridges are affine in the model's answer)."""
    base = outs[SHOWING[0]].value.double()
    weight = (outs[SHOWING[1]].value.double() - base)[:, 0]
    return base, weight, (outs[SHOWING[2]].value.double() - base)[:, 0] / weight


PARTS = ("point", "weight", "time or level asked")  # take_apart's three results


def shows(cases, part: int, want, what: str, tol: float, relative: bool = False,
          signless: bool = False):
    """A Prop test on the SHOWING cases: take_apart's part (0 the point, 1 the weight, 2 the
    time or level asked) equals want(x, s), s the cases' time or level, within tol (relative
    to want if asked; signless: up to the sign, which another line judges)."""
    def test(outs, refs):
        _, x, s = cases()[SHOWING[0]].args
        got, expected = take_apart(outs)[part], want(x.double(), s.double())
        if signless:
            got, expected = got.abs(), expected.abs()
        gap = (got - expected).abs() / (expected.abs() if relative else 1)
        gap = gap.max().item()
        seen = (f" (yours {[round(v, 3) for v in got[:3].tolist()]}...)" if part == 2 else "")
        return gap < tol, (f"max |your {PARTS[part]} - {what}| = {gap:.1e}"
                           f"{' relative' if relative else ''}{seen}")
    return test
