"""Shared by notebook 03's exercise files: diffusers' DDIMScheduler, the alpha_bar of the three
usual beta schedules, and timestep pairs for the probes."""
from __future__ import annotations

import torch

from course_lib import ddpm
from course_lib.exercises.common import draw, gen

# diffusers' names of the beta schedules the checks probe: DDPM's linear one, Stable
# Diffusion's scaled-linear one (betas 0.00085 .. 0.012) and the cosine one of Nichol & Dhariwal
SCHEDULES = ("linear", "scaled_linear", "squaredcos_cap_v2")


def ddim_scheduler(kind: str = "linear", T: int = 1000):
    """DDIMScheduler with T training steps, the given beta schedule and clip_sample=False."""
    from diffusers import DDIMScheduler  # imported here: only these checks need it

    # clip_sample=False: the textbook update; set_alpha_to_one=True (the default): the last
    # step lands on alpha_bar = 1, which our loop does too.
    sd = dict(beta_start=0.00085, beta_end=0.012) if kind == "scaled_linear" else {}
    return DDIMScheduler(num_train_timesteps=T, beta_schedule=kind, clip_sample=False, **sd)


def linear_alpha_bar() -> torch.Tensor:
    """alpha_bar of DDPM's linear beta schedule, T = 1000. (1000,)"""
    return ddpm.alpha_bars(ddpm.linear_betas())


def schedule_alpha_bar(kind: str, T: int = 1000, dtype: torch.dtype = torch.float32
                       ) -> torch.Tensor:
    """alpha_bar of one of SCHEDULES with T steps, computed in dtype; in float32 it equals
    ddim_scheduler(kind, T).alphas_cumprod. (T,)"""
    if kind == "linear":
        betas = ddpm.linear_betas(T)
    elif kind == "scaled_linear":
        betas = torch.linspace(0.00085**0.5, 0.012**0.5, T) ** 2
    elif kind == "squaredcos_cap_v2":
        betas = ddpm.cosine_betas(T)
    else:
        raise ValueError(kind)
    return ddpm.alpha_bars(betas.to(dtype))


def timestep_pairs(n: int, size: int, T: int = 1000, notebook=None
                   ) -> tuple[torch.Tensor, torch.Tensor]:
    """size timesteps t and earlier ones prev, 0 <= prev < t < T, drawn for probe n; in the
    notebook's draw `notebook` (a pair of lists) when given. Two (size,) int64 tensors."""
    if notebook is not None and draw() == 0:
        return torch.tensor(notebook[0]), torch.tensor(notebook[1])
    g = gen(n)
    t = torch.randint(1, T, (size,), generator=g)
    prev = (torch.rand(size, generator=g, dtype=torch.float64) * t).long()
    return t, prev
