"""Shared by notebook 02's exercise files: diffusers' DDPMScheduler, the probe schedules and
alpha_bar_(t-1)."""
from __future__ import annotations

import torch

# "scaled_linear" with Stable Diffusion's beta range
_SD_BETAS = {"beta_start": 0.00085, "beta_end": 0.012}


def ddpm_scheduler(kind: str = "linear", T: int = 1000):
    """DDPMScheduler with T steps, the given beta schedule ("linear", "squaredcos_cap_v2" or
    "scaled_linear") and clip_sample=False."""
    from diffusers import DDPMScheduler  # imported here: only the DDPM checks need it

    extra = _SD_BETAS if kind == "scaled_linear" else {}
    return DDPMScheduler(num_train_timesteps=T, beta_schedule=kind, clip_sample=False, **extra)


def betas64(kind: str, T: int) -> torch.Tensor:
    """The "linear" or "scaled_linear" schedule computed in float64, for the float64 probes."""
    if kind == "linear":
        return torch.linspace(1e-4, 0.02, T, dtype=torch.float64)
    return torch.linspace(_SD_BETAS["beta_start"] ** 0.5, _SD_BETAS["beta_end"] ** 0.5, T,
                          dtype=torch.float64) ** 2


def alpha_bar64(kind: str, T: int) -> torch.Tensor:
    """alpha_bar of that float64 schedule: a probe input, made here, not by an answer."""
    return torch.cumprod(1 - betas64(kind, T), 0)


def alpha_bar_prev(alpha_bar: torch.Tensor, t: int) -> torch.Tensor:
    """alpha_bar_(t-1), with alpha_bar_(-1) = 1: used by the planted answers."""
    return alpha_bar[t - 1] if t > 0 else torch.tensor(1.0)
