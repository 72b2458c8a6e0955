"""Exercise `unet_forward` (notebook 06): the U-Net's forward pass, assembled from its blocks:
the noise-level embedding, the down path whose outputs are kept, the middle, the up path on
[h, kept output] concatenated, and the EDM input scaling and output blend."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from course_lib import diffusion, spiral
from course_lib.checking import Case, Props, close, exercise
from course_lib.exercises.common import gen, pick
from course_lib.exercises.nb06.probes import log_sigmas, probe_unet, unet_net


# <solution cell>
def unet_forward(model, x: torch.Tensor, sigma, cond=None) -> torch.Tensor:
    """eps_hat (B, C, H, W) for x (B, C, H, W) at noise level sigma (a number, a 0-dim or a
    (B,) tensor), computed with the model's own parts: model.emb_mlp (it reads the 64
    sigma_embedding features), model.conv_in, the Levels in model.down, model.middle, the
    Levels in model.up, model.out and model.sigma_data. Every Level is called as
    level(h, emb, context, mask); cond is None or (context, mask). Any number of levels, any
    H and W that the levels can halve."""
    ### BEGIN SOLUTION
    sigma = diffusion.batch_sigma(sigma, x)                     # (B,), x's dtype
    context, mask = cond if cond is not None else (None, None)
    emb = model.emb_mlp(spiral.sigma_embedding(sigma, 64))      # (B, emb_dim)
    s, sd = diffusion.append_dims(sigma, x.dim()), model.sigma_data
    h = model.conv_in(x / torch.sqrt(s**2 + sd**2))
    skips = []
    for i, level in enumerate(model.down):
        h = level(h, emb, context, mask)
        skips.append(h)
        if i < len(model.down) - 1:
            h = F.avg_pool2d(h, 2)                              # halve H and W
    h = model.middle(h, emb, context, mask)
    for i, level in enumerate(model.up):
        h = level(torch.cat([h, skips.pop()], dim=1), emb, context, mask)
        if i < len(model.up) - 1:
            h = F.interpolate(h, scale_factor=2, mode="nearest")  # double H and W
    # eps_hat = (x - c_skip x - c_out F) / sigma, c_skip = sd^2/(s^2+sd^2),
    # c_out = s sd / sqrt(s^2+sd^2); an untrained F = 0 gives Gaussian data's best guess
    return x * s / (s**2 + sd**2) - sd / torch.sqrt(s**2 + sd**2) * model.out(h)
    ### END SOLUTION
# </solution cell>


def cases() -> dict[str, Case]:
    g = gen(70)
    # three levels (the course's layout) on 16 x 16, a batch of 3, one sigma per image
    ch = pick(71, 3, 1, 2)
    three = probe_unet(72, g, channels=ch, mults=(1, 2, 2), attn=(False, False, True),
                       sigma_data=pick(73, 0.5, 0.4, 0.7))
    x3 = torch.randn(3, ch, 16, 16, generator=g)
    # two levels on a small non-square image, one image, sigma a number, x differentiated
    two = probe_unet(74, g, channels=4, mults=(1, 2), attn=(False, True),
                     sigma_data=pick(75, 0.8, 0.3, 1.2))
    H, W = pick(76, (6, 10), (10, 6), (8, 12), (4, 14))
    x1 = torch.randn(1, 4, H, W, generator=g).requires_grad_()
    # four levels on 32 x 32, sigma a 0-dim tensor
    four = probe_unet(77, g, channels=3, mults=(1, 1, 2, 2), attn=(False, False, False, True),
                      sigma_data=pick(78, 0.6, 0.5, 1.0))
    b = pick(79, 2, 1, 3)
    x4 = torch.randn(b, 3, 32, 32, generator=g)
    s4 = log_sigmas(1, g)[0]
    # cross-attention to a context with padding (notebook 07's text model, in small)
    text = probe_unet(80, g, channels=4, mults=(1, 2), attn=(True, True), context_dim=6,
                      sigma_data=pick(81, 1.0, 0.9, 1.3))
    L = pick(82, 5, 3, 7)
    xt, ctx = torch.randn(3, 4, 8, 8, generator=g), torch.randn(3, L, 6, generator=g)
    keep = torch.cat([torch.ones(3, 1, dtype=torch.bool), torch.rand(3, L - 1, generator=g) < 0.6],
                     1)
    # an untrained model (last convolution zero): only the input scaling and blend remain
    fresh = probe_unet(83, g, untrained=True, channels=2, mults=(1, 2), attn=(False, False),
                       sigma_data=pick(84, 0.7, 0.35, 1.5))
    xf = torch.randn(4, 2, 8, 8, generator=g)
    return {
        "three levels": Case((three, x3, log_sigmas(3, g))),
        "two levels": Case((two, x1, float(log_sigmas(1, g)))),
        "four levels": Case((four, x4, s4)),
        "text": Case((text, xt, log_sigmas(3, g), (ctx, keep))),
        "untrained": Case((fresh, xf, log_sigmas(4, g))),
    }


PROPS = Props()
# eps_hat written as the markdown has it, (x - D) / sigma, loses digits at small sigma in
# float32 (about 1e-5 at sigma = 0.02); a wrong network is off by far more than this
ATOL = 1e-4


@PROPS
def _blend(outs, refs):
    """an untrained network (F = 0) gives sigma x / (sigma^2 + sigma_d^2), with the model's
    sigma_data

    the network's output F is blended with the input into the denoised guess, and the noise
    prediction follows from that guess; sigma_d is the model's own setting

    code: the network's output F is blended with x into the denoised guess D = c_skip x + c_out
    F, and eps_hat = (x - D) / sigma; sigma_d is the model's own sigma_data"""
    model, x, sigma = cases()["untrained"].args
    sd = model.sigma_data
    s = sigma[:, None, None, None]
    diff = (outs["untrained"].value - x * s / (s**2 + sd**2)).abs().max().item()
    return diff < ATOL, f"max |yours - sigma x / (sigma^2 + sigma_d^2)| = {diff:.1e}"


def _after(first: str, *names: str):
    """close(*names), judged once case `first` matches: a mistake everywhere is reported once,
    by the property it breaks first, and the later lines name what is left."""
    def test(outs, refs):
        if not close(first, atol=ATOL)(outs, refs)[0]:
            return False, f"not checked: case '{first}' differs above"
        return close(*names, atol=ATOL)(outs, refs)
    return test


PROPS("""matches the course's U-Net on the same weights (three levels, 16 x 16, a batch of 3)

      the down path keeps every level's output; the up path consumes them in reverse order, each
      joined to the features of the same size; the network reads the input scaled to unit
      variance

      code: down: each level, keep its output, halve between levels; then the middle; up: each
      level on h and the kept output of the same size, side by side along the channels (the last
      kept is the first used), double between levels. F reads x / sqrt(sigma^2 + sigma_d^2)""",
      close("three levels", atol=ATOL))

PROPS("""works for any number of levels and any image size (2 levels on one small non-square image,
      sigma a number; 4 levels on 32 x 32)

      count the levels from the model itself and change the resolution only between levels;
      nothing about the course's own model (its depth, size or sigma_data) may be assumed

      code: count the levels from model.down and model.up and halve or double only between them;
      assume nothing of the course's model (3 levels, 32 x 32, sigma_data 0.5); sigma may be a
      number, a 0-dim or a (B,) tensor""",
      _after("three levels", "two levels", "four levels"))

PROPS("""passes the context and its mask to every level (cross-attention)

      the caption's context and mask go to every level, the middle included; without a caption
      every level gets none

      code: cond = (context, mask) goes to every level, the middle included; with cond None they
      get None""",
      _after("three levels", "text"))


def _bug(**kw):
    return lambda model, x, sigma, cond=None: unet_net(model, x, sigma, cond, **kw)


@torch.no_grad()
def _no_grad(model, x, sigma, cond=None):
    return unet_net(model, x, sigma, cond)


BUGS = {
    "skips used first in, first out": _bug(order="fifo"),
    "skip added to h instead of concatenated": _bug(combine="add"),
    "[skip, h] concatenated in the other order": _bug(combine="cat skip first"),
    "middle block left out": _bug(middle=False),
    "attention left out (only each level's ResBlocks)": _bug(attn=False),
    "final GroupNorm and SiLU left out": _bug(norm_act=False),
    "no input scaling": _bug(c_in=False),
    "returns the denoised guess D, not eps_hat": _bug(ret="D"),
    "max-pooling instead of average": _bug(pool="max"),
    "bilinear upsampling instead of repeating pixels": _bug(up="bilinear"),
    "the context never reaches the levels": _bug(pass_cond=False),
    "[held] sigma_data 0.5 hard-coded": _bug(sd=0.5),
    "[held] three levels assumed": _bug(levels=3),
    "[held] sigma assumed to be a (B,) tensor": _bug(as_given=True),
    "[held] upsamples to the sizes of a 32 x 32 image": _bug(up="32 x 32"),
    "[grad] computes under torch.no_grad()": _no_grad,
    "[mutates] scales x in place": _bug(in_place=True),
    "[dtype] sigma made float32": _bug(dtype=torch.float32),
}


def _written_out(model, x, sigma, cond=None):
    """Skips reversed with zip, pooling before each level but the first, upsampling to the
    kept output's size, eps_hat = (x - D) / sigma with c_in, c_skip and c_out spelled out."""
    sigma = torch.as_tensor(sigma, dtype=x.dtype).reshape(-1).expand(len(x))
    context, mask = (None, None) if cond is None else cond
    emb = model.emb_mlp(spiral.sigma_embedding(sigma, model.emb_mlp[0].in_features))
    s = sigma.view(-1, 1, 1, 1)
    sd = model.sigma_data
    c_in = 1 / (s**2 + sd**2).sqrt()
    c_skip, c_out = sd**2 / (s**2 + sd**2), s * sd / (s**2 + sd**2).sqrt()
    h = model.conv_in(c_in * x)
    kept = []
    for level in model.down:
        if kept:
            h = F.avg_pool2d(h, kernel_size=2, stride=2)
        h = level(h, emb, context, mask)
        kept.append(h)
    h = model.middle(h, emb, context, mask)
    for level, skip in zip(model.up, reversed(kept)):
        if h.shape[-2:] != skip.shape[-2:]:
            h = F.interpolate(h, size=skip.shape[-2:], mode="nearest")
        h = level(torch.cat((h, skip), 1), emb, context, mask)
    D = c_skip * x + c_out * model.out(h)
    return (x - D) / s


def _repeated(model, x, sigma, cond=None):
    """Upsampling by repeat_interleave, modules indexed by position, output through the
    Sequential's parts one by one."""
    sig = diffusion.batch_sigma(sigma, x)
    ctx, mask = cond or (None, None)
    emb = model.emb_mlp(spiral.sigma_embedding(sig, 64))
    s = sig[:, None, None, None]
    var = s * s + model.sigma_data ** 2
    h = model.conv_in(x * var.rsqrt())
    hs, n = [], len(model.down)
    for i in range(n):
        h = model.down[i](h, emb, ctx, mask)
        hs.append(h)
        h = F.avg_pool2d(h, 2) if i + 1 < n else h
    h = model.middle(h, emb, ctx, mask)
    for j in range(n):
        h = model.up[j](torch.cat([h, hs[n - 1 - j]], 1), emb, ctx, mask)
        if j + 1 < n:
            h = h.repeat_interleave(2, dim=2).repeat_interleave(2, dim=3)
    out = h
    for layer in model.out:
        out = layer(out)
    return s / var * x - model.sigma_data * var.rsqrt() * out


ALTERNATIVES = {
    "skips reversed with zip, D spelled out, (x - D) / sigma": _written_out,
    "indices, repeat_interleave, the output layers one by one": _repeated,
}


EXERCISE = exercise(globals(), points=4,
                    summary="the U-Net's forward pass, assembled from its blocks",
                    proxies=("course_lib.unet.UNet.forward",),
                    reread="5. The whole U-Net")
