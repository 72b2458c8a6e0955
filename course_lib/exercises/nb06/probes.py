"""Probe objects shared by notebook 06's checks: modules with fixed random weights; and the kit
of the U-Net's forward pass `unet_forward`: small random U-Nets, noise levels, and the forward
with one thing changed that builds its planted bugs."""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from course_lib import diffusion, spiral
from course_lib.exercises.common import seeded


def fixed(build, seed: int) -> nn.Module:
    """A module with fixed random weights (probe draw `seed`), built without touching the
    learner's RNG. Its parameters require grad, as in training, so a check sees whether the
    graph is kept."""
    with seeded(seed):
        return build()


def random_affine(norm: nn.GroupNorm, g: torch.Generator) -> nn.GroupNorm:
    """Give a GroupNorm a random (not the default 1 and 0) affine weight and bias, in place."""
    with torch.no_grad():
        norm.weight.copy_(1 + 0.5 * torch.randn(norm.weight.shape, generator=g))
        norm.bias.copy_(0.5 * torch.randn(norm.bias.shape, generator=g))
    return norm


# The kit of the loop exercise `unet_forward` (nb06/unet_forward.py).

def probe_unet(seed: int, g: torch.Generator, untrained: bool = False, **kw):
    """A small unet.UNet with random weights everywhere: GroupNorms with random scales and
    shifts, and (unless untrained) a random last convolution instead of the zeros it starts
    with."""
    from course_lib import unet  # here: course_lib.unet imports the files that import this one

    model = fixed(lambda: unet.UNet(base=8, emb_dim=16, **kw), seed)
    for m in model.modules():
        if isinstance(m, torch.nn.GroupNorm):
            random_affine(m, g)
    if not untrained:
        last = model.out[-1]
        with torch.no_grad():
            last.weight.copy_(0.1 * torch.randn(last.weight.shape, generator=g))
            last.bias.copy_(0.1 * torch.randn(last.bias.shape, generator=g))
    return model


def log_sigmas(n: int, g: torch.Generator) -> torch.Tensor:
    """n noise levels, log-uniform over [0.02, 50]."""
    lo, hi = math.log(0.02), math.log(50.0)
    return torch.exp(lo + (hi - lo) * torch.rand(n, generator=g))


def unet_net(model, x, sigma, cond=None, order="lifo", combine="cat", middle=True, attn=True,
             norm_act=True, c_in=True, ret="eps", pool="avg", up="nearest", sd=None,
             levels=None, as_given=False, dtype=None, pass_cond=True, in_place=False):
    """The U-Net's forward with one thing changed: the planted bugs of `unet_forward`."""
    if dtype is not None:
        sigma = torch.as_tensor(sigma, dtype=dtype).expand(x.shape[0])
    elif not as_given:                                          # as_given: assumed (B,)
        sigma = diffusion.batch_sigma(sigma, x)
    context, mask = cond if cond is not None and pass_cond else (None, None)
    emb = model.emb_mlp(spiral.sigma_embedding(sigma, 64))
    s = diffusion.append_dims(sigma, x.dim())
    sd = model.sigma_data if sd is None else sd
    if in_place:
        x /= torch.sqrt(s**2 + sd**2)
        h = model.conv_in(x)
    else:
        h = model.conv_in(x / torch.sqrt(s**2 + sd**2) if c_in else x)
    n = len(model.down) if levels is None else levels

    def run(level, h):
        if attn:
            return level(h, emb, context, mask)
        for block in level.res:
            h = block(h, emb)
        return h

    skips = []
    for i, level in enumerate(model.down):
        h = run(level, h)
        skips.append(h)
        if i < n - 1:
            h = F.avg_pool2d(h, 2) if pool == "avg" else F.max_pool2d(h, 2)
    if middle:
        h = run(model.middle, h)
    for i, level in enumerate(model.up):
        skip = skips.pop() if order == "lifo" else skips.pop(0)
        if combine == "cat":
            h = torch.cat([h, skip], dim=1)
        elif combine == "cat skip first":
            h = torch.cat([skip, h], dim=1)
        else:
            h = h + skip
        h = run(level, h)
        if i < n - 1:
            if up == "nearest":
                h = F.interpolate(h, scale_factor=2, mode="nearest")
            elif up == "32 x 32":                               # the course's image size
                h = F.interpolate(h, size=32 // 2 ** (n - 2 - i), mode="nearest")
            else:
                h = F.interpolate(h, scale_factor=2, mode="bilinear", align_corners=False)
    out = model.out(h) if norm_act else model.out[-1](h)
    c_skip, c_out = sd**2 / (s**2 + sd**2), s * sd / torch.sqrt(s**2 + sd**2)
    if ret == "D":
        return c_skip * x + c_out * out
    return x * s / (s**2 + sd**2) - sd / torch.sqrt(s**2 + sd**2) * out
