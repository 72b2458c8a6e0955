"""Exercise `watermark_score` (notebook 10): the watermark's detection score z per image."""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from course_lib import safety, shapes
from course_lib.checking import Case, Props, close, exercise
from course_lib.exercises.common import draw, gen, pick


# <solution cell>
def watermark_score(images: torch.Tensor, signs: torch.Tensor) -> torch.Tensor:
    """The detection score z of section 5 for each image: images (B, C, H, W) in [0, 1],
    signs (C, H/2, W/2) of +-1, one per 2x2 block of each channel. Returns (B,)."""
    ### BEGIN SOLUTION
    X = F.avg_pool2d(safety.highpass(images), 2)                    # (B, C, H/2, W/2)
    return (signs * X).flatten(1).sum(1) / X.flatten(1).norm(dim=1).clamp(min=1e-12)
    ### END SOLUTION
# </solution cell>


def _textured(image: torch.Tensor) -> bool:
    """Whether an image in [0, 1] has a high-pass left after block means: for a few images
    (a square on the block grid) it is ~0, and z, 0/0, is rounding noise."""
    return F.avg_pool2d(safety.highpass(image[None]), 2).norm().item() > 1e-3


def _images(n, seed, size=32):
    """n textured images of the course's data set in [0, 1], at this size (seed: the
    notebook draw's numpy seed)."""
    if draw():
        seed = int(torch.randint(2**31, (1,), generator=gen(seed)))
    rng = np.random.default_rng(seed)
    combos = shapes.all_attributes(include_held_out=True)

    def render(i):
        image = (shapes.render(combos[i], rng) + 1) / 2
        return F.avg_pool2d(image, 32 // size)

    images = [im for im in (render(i) for i in rng.integers(len(combos), size=n))
              if _textured(im)]
    while len(images) < n:
        image = render(rng.integers(len(combos)))
        images += [image] if _textured(image) else []
    return torch.stack(images)


def _signs(key: int, size: int = 32) -> torch.Tensor:
    """A key's signs, (3, size / 2, size / 2), as safety.watermark_signs draws them."""
    n = size // 2
    return torch.randint(0, 2, (3, n, n), generator=gen(key)).float() * 2 - 1


def cases() -> dict[str, Case]:
    signs = _signs(107)
    plain = _images(64, 108)
    marked = safety.embed_watermark(plain[:8], signs)
    a, b = pick(125, (0.5, 0.2), (0.7, 0.1), (0.3, 0.5), (0.6, 0.35))
    g = gen(126)
    level = 0.1 + 0.8 * torch.rand(2, 1, 1, 1, generator=g)   # flat grey images, one marked
    flat = torch.cat([level[:1] + 1e-2 * torch.randn(1, 3, 32, 32, generator=g),
                      safety.embed_watermark(level[1:].expand(1, 3, 32, 32), signs)])
    small = _images(3, 127, size=16)                            # an odd batch
    small_signs = _signs(128, 16)
    small = torch.cat([safety.embed_watermark(small[:1], small_signs), small[1:]])
    return {"marked": Case((marked, signs)), "plain": Case((plain, signs)),
            "contrast": Case((a * marked + b, signs)),
            "one": Case((safety.embed_watermark(_images(1, 129), signs), signs)),
            "nearly_flat": Case((flat, signs)),
            "small_odd": Case((small, small_signs))}


PROPS = Props()


@PROPS
def _marked(outs, refs):
    """marked images score above the threshold, and a marked flat image far above it

    z correlates the key's signs with the block means X of the high-passed image, one sum per
    image: a marked image lines up with its signs and scores high

    code: X: safety.highpass of the images, then F.avg_pool2d with 2x2 blocks; multiply by signs
    and sum over channels and blocks, per image"""
    z, flat = outs["marked"].value, outs["nearly_flat"].value[1]
    ok = bool(z.mean() > safety.THRESHOLD and flat > 2 * safety.THRESHOLD)
    return ok, (f"8 marked images: mean z {z.mean():.1f} (from {z.min():.1f} to {z.max():.1f}), "
                f"a marked flat image: z = {flat:.1f}; threshold {safety.THRESHOLD}")


@PROPS
def _null(outs, refs):
    """unmarked images score about N(0, 1)

    the correlation is divided by the size of X itself, the root of its sum of squares per
    image, not by a count: that is what gives an unmarked image's z variance 1

    code: X.flatten(1).norm(dim=1), one norm per image"""
    z = outs["plain"].value
    ok = abs(z.mean().item()) < 0.75 and 0.6 < z.std().item() < 1.5
    return ok, (f"64 unmarked images: z has mean {z.mean():.2f} and std {z.std():.2f} "
                "(about N(0, 1) expected)")


@PROPS
def _contrast(outs, refs):
    """brightness and contrast do not change z

    the high-pass removes any constant added to the image and dividing by the norm of X removes
    any factor, so z uses the high-passed image, never raw pixels, and keeps its sign

    code: safety.highpass(images) before the block means; no .abs()"""
    diff = (outs["contrast"].value - outs["marked"].value).abs().max().item()
    return diff < 1e-3, f"a * image + b changes z by at most {diff:.1e}"


def _wm(images, signs, high=True, norm=True, absolute=False, batch=False, eps=0.0,
        squeeze=False):
    X = F.avg_pool2d(safety.highpass(images) if high else images, 2)
    if batch:
        return (signs * X).sum() / X.norm()
    z = (signs * X).flatten(1).sum(1)
    z = z / (X.flatten(1).norm(dim=1) + eps) if norm else z / X[0].numel()
    z = z.abs() if absolute else z
    return z.squeeze() if squeeze else z


def _pixel_level(images, signs):
    pattern = signs.repeat_interleave(2, -2).repeat_interleave(2, -1)
    return (pattern * images).flatten(1).sum(1) / images.flatten(1).norm(dim=1)


def _block_sums(images, signs, n=None):
    hp = safety.highpass(images)
    b, c, h, w = hp.shape
    h, w = (h, w) if n is None else (2 * n, 2 * n)
    X = hp.reshape(b, c, h // 2, 2, w // 2, 2).sum(dim=(3, 5))
    return (signs * X).sum(dim=(1, 2, 3)) / X.pow(2).sum(dim=(1, 2, 3)).sqrt()


BUGS = {
    "no high-pass": lambda im, s: _wm(im, s, high=False),
    "divided by the number of blocks": lambda im, s: _wm(im, s, norm=False),
    "absolute value": lambda im, s: _wm(im, s, absolute=True),
    "one score for the whole batch": lambda im, s: _wm(im, s, batch=True),
    "pixel-level correlation, no high-pass": _pixel_level,
    "[held] squeezes the batch (one image gives a number)": lambda im, s: _wm(im, s,
                                                                               squeeze=True),
    "[held] 32 x 32 images only (16 x 16 blocks written in)": lambda im, s: _block_sums(
        im, s, n=16),
    "[held] the notebook's key, not the signs given": lambda im, s: _wm(
        im, safety.watermark_signs(2024, im.shape[-1]).to(im)),
    "[dtype] computed in float32": lambda im, s: _wm(im.float(), s.float()),
    "a large epsilon (1e-3) added to the norm": lambda im, s: _wm(
        im, s, eps=1e-3),
}
ALTERNATIVES = {
    "sums over 2x2 blocks, not means": _block_sums,
    "no guard against a flat image": lambda im, s: _wm(im, s),
}

PROPS("""matches the reference

      one z per image: the sums run over channels and blocks, never over the batch

      code: .flatten(1) then sums and norms along dim 1""",
      close("marked", "plain", atol=1e-4))

PROPS("""matches the reference for one image, a nearly flat image and an odd batch of 16 x 16

      nothing in z depends on the batch or image size: one score per image over all its blocks,
      with the signs given; a nearly flat image has a tiny X, so even a small constant added to
      its norm changes its score

      code: guard a zero norm with .clamp(min=1e-12), not by adding 1e-3; no .squeeze(); no
      block count written in""",
      close("one", "nearly_flat", "small_odd", atol=1e-4))

EXERCISE = exercise(globals(), points=2, summary="the watermark's detection score z",
                    reread="An invisible watermark")
