"""A small U-Net for images, built from parts: noise-level embedding, residual blocks with
GroupNorm, down/up-sampling with skip connections, self- and cross-attention.

Introduced in notebook 06 (pixels) and reused in 07 (latents, with text through
cross-attention). Same contract as every course model: unet(x, sigma, cond) -> eps_hat,
x: (B, C, H, W). Not a general library: one resolution schedule, no dropout.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from course_lib.config import Config, frozen_tuple

# The notebook's exercises: each reference lives once, in its exercise file.
from course_lib.exercises.nb06.attention import attention
from course_lib.exercises.nb06.attention_2d import attention_2d
from course_lib.exercises.nb06.resblock_forward import resblock_forward
from course_lib.exercises.nb06.unet_forward import unet_forward

__all__ = ["Attention2d", "Level", "ResBlock", "UNet", "UNetConfig", "attention", "attention_2d",
           "build", "resblock_forward", "unet_forward"]


class ResBlock(nn.Module):
    def __init__(self, c_in: int, c_out: int, emb_dim: int, groups: int = 8):
        super().__init__()
        self.norm1, self.conv1 = nn.GroupNorm(groups, c_in), nn.Conv2d(c_in, c_out, 3, padding=1)
        self.emb = nn.Linear(emb_dim, c_out)
        self.norm2, self.conv2 = nn.GroupNorm(groups, c_out), nn.Conv2d(c_out, c_out, 3, padding=1)
        self.skip = nn.Conv2d(c_in, c_out, 1) if c_in != c_out else nn.Identity()

    def forward(self, x, emb):
        return resblock_forward(self, x, emb)


class Attention2d(nn.Module):
    """Self-attention over pixels, or cross-attention to a context of dimension context_dim."""

    def __init__(self, channels: int, heads: int = 4, context_dim: int | None = None,
                 groups: int = 8):
        super().__init__()
        self.heads, self.norm = heads, nn.GroupNorm(groups, channels)
        kv_dim = context_dim or channels
        self.to_q = nn.Linear(channels, channels)
        self.to_k, self.to_v = nn.Linear(kv_dim, channels), nn.Linear(kv_dim, channels)
        self.proj = nn.Linear(channels, channels)

    def forward(self, x, context=None, mask=None):
        return attention_2d(self, x, context, mask)


class Level(nn.Module):
    """The blocks at one resolution: ResBlocks, then optional self- and cross-attention."""

    def __init__(self, c_in, c_out, emb_dim, n_res, attn, context_dim):
        super().__init__()
        self.res = nn.ModuleList([ResBlock(c_in if i == 0 else c_out, c_out, emb_dim)
                                  for i in range(n_res)])
        self.attn = Attention2d(c_out) if attn else None
        self.cross = Attention2d(c_out, context_dim=context_dim) if attn and context_dim else None

    def forward(self, h, emb, context, mask):
        for block in self.res:
            h = block(h, emb)
        if self.attn is not None:
            h = self.attn(h)
        if self.cross is not None:
            h = self.cross(h, context, mask)
        return h


class UNet(nn.Module):
    """Down: conv_in, a Level per resolution (halving between levels); middle; up: a Level
    per resolution on [h, skip] concatenated (doubling between levels); conv_out.
    `cond` is None or (context (B, L, D), mask (B, L)) for cross-attention (notebook 07).

    Preconditioning (Karras et al. 2022, "EDM"): the network F reads x / sqrt(sigma^2 + s_d^2)
    and its output is blended with x into the denoised guess D = c_skip x + c_out F, returned
    as eps_hat = (x - D) / sigma. F's target then has unit scale at every noise level, which
    keeps large-sigma errors (amplified by sigma in x0_hat) small. s_d: the data's std.
    """

    def __init__(self, channels: int = 3, base: int = 32, mults=(1, 2, 2),
                 attn=(False, False, True), emb_dim: int = 128, context_dim: int | None = None,
                 sigma_data: float = 0.5):
        super().__init__()
        self.sigma_data = sigma_data
        widths = [base * m for m in mults]
        self.emb_mlp = nn.Sequential(nn.Linear(64, emb_dim), nn.SiLU(), nn.Linear(emb_dim, emb_dim))
        self.conv_in = nn.Conv2d(channels, base, 3, padding=1)
        self.down = nn.ModuleList()
        c = base
        for w, a in zip(widths, attn):
            self.down.append(Level(c, w, emb_dim, 1, a, context_dim))
            c = w
        self.middle = Level(c, c, emb_dim, 2, True, context_dim)
        self.up = nn.ModuleList()
        for w, a in zip(reversed(widths), reversed(attn)):
            self.up.append(Level(c + w, w, emb_dim, 2, a, context_dim))
            c = w
        self.out = nn.Sequential(nn.GroupNorm(8, c), nn.SiLU(),
                                 nn.Conv2d(c, channels, 3, padding=1))
        nn.init.zeros_(self.out[-1].weight)  # F = 0 at first: see unet_forward's last line
        nn.init.zeros_(self.out[-1].bias)

    def forward(self, x: torch.Tensor, sigma, cond=None) -> torch.Tensor:
        """eps_hat for x at sigma: notebook 06's exercise unet_forward, on this model's parts."""
        return unet_forward(self, x, sigma, cond)


@dataclass(frozen=True)
class UNetConfig(Config):
    """Notebook 06's pixel U-Net and its training run (saved with data/unet_pixels.pt)."""
    base: int = 16
    mults: tuple[int, ...] = (1, 2, 4)
    attn: tuple[bool, ...] = (False, False, True)
    n_images: int = 20_000
    steps: int = 2000
    batch_size: int = 64
    lr: float = 1e-3
    sigma_min: float = 0.01
    sigma_max: float = 10.0
    sigma_data: float = 0.5
    seed: int = 0

    def __post_init__(self):
        frozen_tuple(self, "mults", "attn")  # a saved config gives lists


def build(c: UNetConfig | dict) -> UNet:
    """Notebook 06's U-Net from its config (as saved with data/unet_pixels.pt)."""
    c = UNetConfig.from_dict(c)
    return UNet(base=c.base, mults=c.mults, attn=c.attn, sigma_data=c.sigma_data)
