"""Shared by notebook 02's exercise files: diffusers' DDPMScheduler and alpha_bar_(t-1)."""
from __future__ import annotations

import torch


def ddpm_scheduler(kind: str = "linear"):
    """DDPMScheduler with T = 1000, the given beta schedule and clip_sample=False."""
    from diffusers import DDPMScheduler  # imported here: only the DDPM checks need it

    return DDPMScheduler(num_train_timesteps=1000, beta_schedule=kind, clip_sample=False)


def alpha_bar_prev(alpha_bar: torch.Tensor, t: int) -> torch.Tensor:
    """alpha_bar_(t-1), with alpha_bar_(-1) = 1: used by the planted answers."""
    return alpha_bar[t - 1] if t > 0 else torch.tensor(1.0)
