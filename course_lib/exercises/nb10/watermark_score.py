"""Exercise `watermark_score` (notebook 10): the watermark's detection score z per image."""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from course_lib import safety, shapes
from course_lib.checking import Case, Props, close, exercise


# <solution cell>
def watermark_score(images: torch.Tensor, signs: torch.Tensor) -> torch.Tensor:
    """z = sum_b s_b X_b / sqrt(sum_b X_b^2) per image; X = block means of the high-pass."""
    ### BEGIN SOLUTION
    X = F.avg_pool2d(safety.highpass(images), 2)                    # (B, C, H/2, W/2)
    return (signs * X).flatten(1).sum(1) / X.flatten(1).norm(dim=1).clamp(min=1e-12)
    ### END SOLUTION
# </solution cell>


def _images(n, seed):
    rng = np.random.default_rng(seed)
    combos = shapes.all_attributes(include_held_out=True)
    picks = rng.integers(len(combos), size=n)
    return (torch.stack([shapes.render(combos[i], rng) for i in picks]) + 1) / 2


def cases() -> dict[str, Case]:
    signs = safety.watermark_signs(107)
    plain = _images(64, 108)
    marked = safety.embed_watermark(plain[:8], signs)
    return {"marked": Case((marked, signs)), "plain": Case((plain, signs)),
            "contrast": Case((0.5 * marked + 0.2, signs))}


PROPS = Props()


@PROPS("marked images score above the threshold",
       "X = F.avg_pool2d(highpass(images), 2); z = (signs * X) summed per image")
def _marked(outs, refs):
    z = outs["marked"].value
    return bool((z > safety.THRESHOLD).all()), (f"marked images: z from {z.min():.1f} to "
                                                f"{z.max():.1f}, threshold {safety.THRESHOLD}")


@PROPS("unmarked images score about N(0, 1)",
       "divide by the norm of X itself, sqrt(sum X_b^2), not by a count")
def _null(outs, refs):
    z = outs["plain"].value
    ok = abs(z.mean().item()) < 0.5 and 0.6 < z.std().item() < 1.5
    return ok, (f"64 unmarked images: z has mean {z.mean():.2f} and std {z.std():.2f} "
                "(about N(0, 1) expected)")


@PROPS("brightness and contrast do not change z",
       "high-pass first: it removes any constant, and the norm removes the scale")
def _contrast(outs, refs):
    diff = (outs["contrast"].value - outs["marked"].value).abs().max().item()
    return diff < 1e-3, f"0.5 * image + 0.2 changes z by at most {diff:.1e}"


def _wm(images, signs, high=True, norm=True, absolute=False, batch=False):
    X = F.avg_pool2d(safety.highpass(images) if high else images, 2)
    if batch:
        return (signs * X).sum() / X.norm()
    z = (signs * X).flatten(1).sum(1)
    z = z / X.flatten(1).norm(dim=1) if norm else z / X[0].numel()
    return z.abs() if absolute else z


def _pixel_level(images, signs):
    pattern = signs.repeat_interleave(2, -2).repeat_interleave(2, -1)
    return (pattern * images).flatten(1).sum(1) / images.flatten(1).norm(dim=1)


def _block_sums(images, signs):
    hp = safety.highpass(images)
    b, c, h, w = hp.shape
    X = hp.reshape(b, c, h // 2, 2, w // 2, 2).sum(dim=(3, 5))
    return (signs * X).sum(dim=(1, 2, 3)) / X.pow(2).sum(dim=(1, 2, 3)).sqrt()


BUGS = {
    "no high-pass": lambda im, s: _wm(im, s, high=False),
    "divided by the number of blocks": lambda im, s: _wm(im, s, norm=False),
    "absolute value": lambda im, s: _wm(im, s, absolute=True),
    "one score for the whole batch": lambda im, s: _wm(im, s, batch=True),
    "pixel-level correlation, no high-pass": _pixel_level,
}
ALTERNATIVES = {
    "sums over 2x2 blocks, not means": _block_sums,
    "no guard against a flat image": lambda im, s: _wm(im, s),
}

PROPS("matches the reference",
      "one z per image: sum over channels and blocks, not over the batch",
      close("marked", "plain", atol=1e-4))

EXERCISE = exercise(globals(), points=2, summary="the watermark's detection score z")
