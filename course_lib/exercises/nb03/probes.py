"""Shared by notebook 03's exercise files: diffusers' DDIMScheduler and the linear alpha_bar."""
from __future__ import annotations

import torch

from course_lib import ddpm


def ddim_scheduler():
    """DDIMScheduler with T = 1000 and clip_sample=False."""
    from diffusers import DDIMScheduler  # imported here: only these checks need it

    # clip_sample=False: the textbook update; set_alpha_to_one=True (the default): the last
    # step lands on alpha_bar = 1, which our loop does too.
    return DDIMScheduler(num_train_timesteps=1000, clip_sample=False)


def linear_alpha_bar() -> torch.Tensor:
    """alpha_bar of DDPM's linear beta schedule, T = 1000. (1000,)"""
    return ddpm.alpha_bars(ddpm.linear_betas())
