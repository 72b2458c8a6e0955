"""Models and schedules the checks probe with: exact denoisers and short schedules for the
sampling loops (notebooks 02-04), cheap, deterministic and with known answers, and a small
seeded model of images for any view (notebooks 01 and 12)."""
from __future__ import annotations

import torch
from torch import nn

from course_lib.exercises.common import gen, seeded


def linear_alpha_bar(T: int) -> torch.Tensor:
    """alpha_bar of a linear beta schedule that reaches pure noise in only T steps."""
    from course_lib import ddpm

    return ddpm.alpha_bars(ddpm.linear_betas(T, 1e-3, 6.0 / T))


def cosine_alpha_bar(T: int) -> torch.Tensor:
    from course_lib import ddpm

    return ddpm.alpha_bars(ddpm.cosine_betas(T))


def points(n: int, seed: int):
    """n points K in 2-d, and the exact eps_hat of the data set K (notebook 04's ideal_eps),
    as a sigma-view denoiser(x, sigma, cond=None) in x's dtype."""
    from course_lib.projection import ideal_eps

    K = torch.randn(n, 2, generator=gen(seed)) * 2
    return K, lambda x, sigma, cond=None: ideal_eps(x, sigma, K.to(x.dtype))


def gaussian(s: float):
    """The exact eps_hat for data ~ N(0, s^2 I), in the sigma view, for inputs of any rank."""
    def denoiser(x, sigma, cond=None):
        sigma = torch.as_tensor(sigma, dtype=x.dtype)
        if sigma.dim():
            sigma = sigma.reshape(-1, *[1] * (x.dim() - 1))
        return sigma * x / (s**2 + sigma**2)
    return denoiser


class ProbeConv(nn.Module):
    """A small fixed model of images (B, C, H, W) with seeded weights: a 3x3 convolution of x
    and one more channel holding feature(its time or level), each sample its own."""

    def __init__(self, n: int, channels: int = 2, feature=torch.log):
        super().__init__()
        self.feature = feature
        with seeded(n):
            self.conv = nn.Conv2d(channels + 1, channels, 3, padding=1)

    def forward(self, x, when, cond=None):
        f = self.feature(torch.as_tensor(when, dtype=x.dtype).expand(x.shape[0]))
        return torch.tanh(self.conv(torch.cat([x, f.reshape(-1, 1, 1, 1).expand(
            -1, 1, *x.shape[2:])], dim=1)))
