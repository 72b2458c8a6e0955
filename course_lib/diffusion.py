"""The sigma view that every notebook shares: noise levels, noising, the loss, its training.

Introduced in notebook 01 on the spiral and used unchanged on images (06) and latents (07):
x_sigma = x0 + sigma * eps, and every model is `denoiser(x, sigma, cond=None) -> eps_hat`.
The noising, the x0 guess, the loss and the log-linear levels are notebook 01's exercises
(their one copy is in course_lib/exercises/nb01/); this module adds what goes around them.
"""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from course_lib.exercises.nb01.add_noise import add_noise
from course_lib.exercises.nb01.denoising_loss import denoising_loss
from course_lib.exercises.nb01.predict_x0 import predict_x0
from course_lib.exercises.nb01.sigma_schedule import sigma_schedule
from course_lib.fit import fit

__all__ = ["COURSE", "Schedule", "add_noise", "append_dims", "batch_sigma", "denoising_loss",
           "predict_x0", "sigma_schedule", "train_denoiser", "weighted_denoising_loss"]


def append_dims(v: torch.Tensor, ndim: int) -> torch.Tensor:
    """v of shape (B,) as (B, 1, ..., 1) with ndim dimensions, to broadcast over a batch."""
    return v.reshape(-1, *[1] * (ndim - 1))


def batch_sigma(sigma, x: torch.Tensor) -> torch.Tensor:
    """sigma (a number, a 0-dim or a (B,) tensor) as a (B,) tensor with x's dtype and device."""
    return torch.as_tensor(sigma, dtype=x.dtype, device=x.device).expand(x.shape[0])


@dataclass(frozen=True)
class Schedule:
    """The range of noise levels a model is trained on and sampled over."""
    sigma_min: float = 0.01
    sigma_max: float = 10.0

    def levels(self, n: int) -> torch.Tensor:
        """n log-linear levels from sigma_max down to sigma_min, then 0: (n + 1,), the list a
        sampler walks in n steps."""
        return torch.cat([sigma_schedule(self.sigma_min, self.sigma_max, n), torch.zeros(1)])

    def sample(self, batch: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """Training noise levels, log-uniform in [sigma_min, sigma_max]: (batch,)."""
        lo, hi = math.log(self.sigma_min), math.log(self.sigma_max)
        return torch.exp(lo + torch.rand(batch, generator=generator) * (hi - lo))


COURSE = Schedule(0.01, 10.0)  # every model of notebooks 01-07 and 09


def weighted_denoising_loss(denoiser, x0: torch.Tensor, sigma: torch.Tensor, eps: torch.Tensor,
                            sigma_data: float | None = None, cond=None) -> torch.Tensor:
    """denoising_loss, or with sigma_data given, each sample's squared error weighted by
    1 + sigma^2 / sigma_data^2 (EDM's weighting in eps terms: every noise level then counts
    alike in terms of the error of x0_hat = x - sigma * eps_hat). cond goes to the model."""
    if sigma_data is None and cond is None:
        return denoising_loss(denoiser, x0, sigma, eps)
    x = add_noise(x0, sigma, eps)
    eps_hat = denoiser(x, sigma) if cond is None else denoiser(x, sigma, cond)
    if sigma_data is None:
        return ((eps_hat - eps) ** 2).mean()
    per_sample = ((eps_hat - eps) ** 2).flatten(1).mean(1)                # (B,)
    return ((1 + sigma**2 / sigma_data**2) * per_sample).mean()


def train_denoiser(denoiser: nn.Module, data: torch.Tensor, steps: int, batch_size: int = 256,
                   lr: float = 3e-3, schedule: Schedule = COURSE, seed: int = 0,
                   progress: bool = True, sigma_data: float | None = None,
                   batch_cond: Callable[[torch.Tensor, torch.Generator], object] | None = None
                   ) -> list[float]:
    """Train any denoiser on data (N, *D) with fresh noise each step (course_lib.fit's loop).

    batch_cond(idx, gen), if given, returns the condition of the data rows idx (labels,
    token ids, possibly dropped for guidance); it goes to the model as its third argument.
    """
    def loss_on_batch(gen: torch.Generator) -> torch.Tensor:
        idx = torch.randint(len(data), (batch_size,), generator=gen)
        cond = None if batch_cond is None else batch_cond(idx, gen)
        x0 = data[idx]                                                # (B, *D)
        sigma = schedule.sample(batch_size, gen)                      # (B,)
        eps = torch.randn(x0.shape, generator=gen)                    # (B, *D)
        return weighted_denoising_loss(denoiser, x0, sigma, eps, sigma_data, cond)

    return fit(denoiser, loss_on_batch, steps, lr, seed=seed, progress=progress)
