"""Shared by notebook 11's exercise files: noise levels with uneven gaps in log sigma, the
exact ODE of Gaussian data, one step of diffusers' DPMSolverMultistepScheduler replayed on
given data guesses, the sampling loop with one rule changed that builds planted bugs, and
lcm_target's small conditional network and Stable Diffusion's alpha_bar."""
from __future__ import annotations

import math

import torch
from torch import nn

from course_lib.exercises.common import gen, pick, seeded


def uneven_levels(n: int, steps: int, hi: float = 10.0, lo: float = 0.01, zero: bool = True,
                  dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """steps + 1 decreasing levels from hi to lo whose gaps in log sigma are uneven (drawn for
    probe n), then 0 when zero: a list on which the ratio of consecutive steps is never 1."""
    gaps = 0.3 + torch.rand(steps, generator=gen(n), dtype=torch.float64)
    logs = math.log(hi) - (math.log(hi) - math.log(lo)) * gaps.cumsum(0) / gaps.sum()
    levels = torch.cat([torch.tensor([math.log(hi)], dtype=torch.float64), logs]).exp()
    levels[-1] = lo
    return torch.cat([levels, torch.zeros(1, dtype=torch.float64)] if zero else [levels]).to(dtype)


def log_levels(steps: int, hi: float = 10.0, lo: float = 0.01, zero: bool = True,
               dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """steps + 1 levels evenly spaced in log sigma from hi to lo, then 0 when zero."""
    levels = torch.logspace(math.log10(hi), math.log10(lo), steps + 1, dtype=torch.float64)
    return torch.cat([levels, torch.zeros(1, dtype=torch.float64)] if zero else [levels]).to(dtype)


def triple(n: int, dtype: torch.dtype = torch.float32) -> tuple[torch.Tensor, ...]:
    """(sigma_prev, sigma, sigma_next), 0-dim, decreasing, with unequal gaps in log sigma."""
    g = gen(n)
    sigma = 0.05 * 200 ** torch.rand((), generator=g, dtype=torch.float64)    # 0.05 to 10
    up, down = 1.3 + 3 * torch.rand(2, generator=g, dtype=torch.float64)
    return tuple(s.to(dtype) for s in (sigma * up, sigma, sigma / down))


def gaussian_ode(s: float, x: torch.Tensor, sigma: float, sigma_to: float) -> torch.Tensor:
    """Where the probability-flow ODE of data ~ N(0, s^2 I) carries x from level sigma to
    sigma_to: exactly, by the closed form (dx/dsigma = sigma x / (s^2 + sigma^2))."""
    return x * math.sqrt((s**2 + sigma_to**2) / (s**2 + sigma**2))


class ProbeDenoiser(nn.Module):
    """A small fixed sigma-view denoiser eps(x_sigma, sigma) on 2-d points, smooth in sigma."""

    def __init__(self, n: int):
        super().__init__()
        with seeded(n):
            self.lin = nn.Linear(3, 8)
            self.out = nn.Linear(8, 2)

    def forward(self, x, sigma, cond=None):
        sigma = torch.as_tensor(sigma, dtype=x.dtype).expand(x.shape[0])
        h = torch.cat([x / (1 + sigma[:, None]), torch.log(sigma)[:, None] / 4], dim=1)
        return torch.tanh(self.out(torch.tanh(self.lin(h))))


def cond_shifts(n: int, batch: int) -> torch.Tensor:
    """batch shifts of length 2 in drawn directions (the condition of a shifted data set)."""
    angle = torch.rand(batch, generator=gen(n), dtype=torch.float64) * 2 * math.pi
    return 2 * torch.stack([angle.cos(), angle.sin()], dim=1)


def sd_scheduler(steps: int, spacing: str = "trailing"):
    """diffusers' DPM-Solver++ (order 2) on Stable Diffusion's noise schedule, set to `steps`
    steps, predicting the data directly (so a replayed step takes the data guesses given)."""
    from diffusers import DPMSolverMultistepScheduler

    sched = DPMSolverMultistepScheduler(
        beta_schedule="scaled_linear", beta_start=0.00085, beta_end=0.012,
        algorithm_type="dpmsolver++", solver_order=2, prediction_type="sample",
        timestep_spacing=spacing)
    sched.set_timesteps(steps)
    return sched


def sd_case(n: int) -> tuple[tuple[torch.Tensor, ...], int, int]:
    """(sigma_prev, sigma, sigma_next) of step k of a drawn run of diffusers' scheduler (on SD's
    schedule, not its last step), with that run's step count and k."""
    steps = pick(n, 8, 6, 12, 20)
    k = pick(n + 1, 3, 1, 2, 4)
    sigmas = sd_scheduler(steps).sigmas
    return (sigmas[k - 1], sigmas[k], sigmas[k + 1]), steps, k


def diffusers_step(x: torch.Tensor, x0_hat: torch.Tensor, x0_prev: torch.Tensor | None,
                   steps: int, k: int) -> torch.Tensor:
    """diffusers' own step k of `steps` from the sigma-view x, given this step's data guess
    and the previous one (None: its first-order update), as a sigma-view state. The scheduler
    works on x_t = x / sqrt(1 + sigma^2); its state is set as if the earlier steps had run."""
    sched = sd_scheduler(steps)
    sigma, sigma_next = sched.sigmas[k].double(), sched.sigmas[k + 1].double()
    sched._step_index = k
    sched.model_outputs = [None, None if x0_prev is None else x0_prev.float()]
    sched.lower_order_nums = 0 if x0_prev is None else 1
    x_t = (x / (1 + sigma**2).sqrt()).float()
    out = sched.step(x0_hat.float(), sched.timesteps[k], x_t).prev_sample
    return out.double() * (1 + sigma_next**2).sqrt()


# The kit of `dpm_solver_samples`: the loop with one rule changed, for its planted bugs.

def walk(first=None, second=True, last_first_order=True, update_prev=True, prev_sigma=None,
         pairs=None,
         call=lambda d, x, sigma, cond: d(x, sigma) if cond is None else d(x, sigma, cond),
         dtype=True, own_noise=False):
    """dpm_solver_samples with one rule changed (for its planted bugs)."""
    from course_lib.exercises.nb11.dpm_2m_step import dpm_2m_step
    from course_lib.exercises.nb11.dpm_first_order_step import dpm_first_order_step

    def loop(denoiser, sigmas, x, cond=None):
        levels = sigmas if dtype else sigmas.float()
        x = torch.randn_like(x) * levels[0] if own_noise else x
        x0_prev = sigma_prev = None
        if first is not None:
            x0_prev, sigma_prev = first(x, levels)
        for sigma, sigma_next in (pairs(levels) if pairs else zip(levels[:-1], levels[1:])):
            x0_hat = x - sigma * call(denoiser, x, sigma, cond)
            if x0_prev is None or not second or (sigma_next == 0 and last_first_order):
                x = dpm_first_order_step(x, x0_hat, sigma, sigma_next)
            else:
                x = dpm_2m_step(x, x0_hat, x0_prev, sigma_prev, sigma, sigma_next)
            if update_prev or x0_prev is None:
                x0_prev = x0_hat
                sigma_prev = sigma if prev_sigma is None else prev_sigma(levels)
            yield x
    return loop


def before_step(*args, **kwargs):
    """Yields x before each step instead of after."""
    xs = list(walk()(*args, **kwargs))
    yield args[2]
    yield from xs[:-1]


def final_only(*args, **kwargs):
    """Returns only the final x."""
    return list(walk()(*args, **kwargs))[-1]


def in_place(denoiser, sigmas, x, cond=None):
    """Steps the caller's x in place."""
    for state in walk()(denoiser, sigmas, x.clone(), cond):
        x.copy_(state)
        yield x.clone()


def even_prev(levels):
    """The level above the first one as if the steps were even in log sigma."""
    return levels[0] ** 2 / levels[1]


class ProbeNet(torch.nn.Module):
    """A small fixed network net(x, t, cond) on (B, D) states, integer timesteps t (B,) and
    conditions cond (B, D): smooth in all three, with trainable parameters (so a target
    computed with gradients shows)."""

    def __init__(self, n: int, dim: int = 3):
        super().__init__()
        with seeded(n):
            self.lin = torch.nn.Linear(2 * dim + 1, 8)
            self.out = torch.nn.Linear(8, dim)

    def forward(self, x, t, cond):
        t = torch.as_tensor(t, device=x.device).to(x.dtype).reshape(-1, 1).expand(len(x), 1)
        h = torch.cat([x, cond.to(x.dtype).expand(len(x), -1), t / 500 - 1], dim=1)
        return torch.tanh(self.out(torch.tanh(self.lin(h))))


def sd_alpha_bar(dtype=torch.float32) -> torch.Tensor:
    """Stable Diffusion's alpha_bar (scaled_linear betas, 1000 timesteps)."""
    betas = torch.linspace(0.00085**0.5, 0.012**0.5, 1000, dtype=torch.float64) ** 2
    return torch.cumprod(1 - betas, 0).to(dtype)
