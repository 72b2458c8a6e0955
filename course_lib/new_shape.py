"""The new concept of notebook 10: a cross (a plus sign), a shape no training image has, drawn
like course_lib.shapes' own shapes, and how to read it back from generated pixels.

The judge knows three shapes, so the shape is read by template matching (the best
intersection over union with each shape's mask, centred on the image's shape); colour and
place still come from the judge.
"""
from __future__ import annotations

import functools
from dataclasses import replace

import numpy as np
import torch

from course_lib import shapes
from course_lib.judge import Judge

NAME = "cross"


def cross_mask(attrs: shapes.Attributes, jitter: np.ndarray) -> np.ndarray:
    """(32, 32) 0/1 mask of a plus-shaped cross, placed and sized like shapes' own shapes."""
    rows, cols = np.mgrid[0:shapes.SIZE, 0:shapes.SIZE].astype(np.float32) + 0.5
    r0, c0 = np.array(shapes.POSITIONS[attrs.position], dtype=np.float32) + jitter
    dy, dx, h = np.abs(rows - r0), np.abs(cols - c0), shapes.SIZES[attrs.size]
    arm, half_width = 0.9 * h, 0.35 * h
    return (((dy <= arm) & (dx <= half_width)) | ((dx <= arm) & (dy <= half_width))).astype(
        np.float32)


def shape_mask(attrs: shapes.Attributes, jitter: np.ndarray | None = None) -> np.ndarray:
    """The mask of any of the four shapes, the new one included."""
    jitter = np.zeros(2, dtype=np.float32) if jitter is None else jitter
    return (cross_mask if attrs.shape == NAME else shapes._mask)(attrs, jitter)


def render(attrs: shapes.Attributes, rng: np.random.Generator) -> torch.Tensor:
    """Like shapes.render (same jitter, shade and colours), for the new shape too."""
    jitter, shade = rng.uniform(-1.5, 1.5, size=2), rng.uniform(0.85, 1.0)
    mask = shape_mask(attrs, jitter)
    colour = np.array(shapes.COLOURS[attrs.colour], dtype=np.float32) * shade
    img = np.full((3, 1, 1), 0.08, dtype=np.float32) * (1 - mask) + colour[:, None, None] * mask
    return torch.from_numpy(img * 2 - 1)


def dataset(n: int, word: str = NAME, seed: int = 0):
    """n large crosses (n, 3, 32, 32) in [-1, 1], every colour and place in turn (20
    combinations), with captions that call the shape `word`, and their attributes. Large
    only: the course VAE cannot draw a small cross (it comes back as a blob)."""
    rng = np.random.default_rng(seed)
    combos = [shapes.Attributes(NAME, c, p, "large") for c in shapes.COLOURS
              for p in shapes.POSITIONS]
    attrs = [combos[i % len(combos)] for i in range(n)]
    images = torch.stack([render(a, rng) for a in attrs])
    return images, [caption(a, word) for a in attrs], attrs


def caption(attrs: shapes.Attributes, word: str | None = None) -> str:
    """attrs' caption with the shape called `word` (its own name by default)."""
    return replace(attrs, shape=word or attrs.shape).caption


def foreground(images: torch.Tensor, threshold: float = 0.3) -> torch.Tensor:
    """(B, H, W) bool: pixels farther than `threshold` from the background in some channel."""
    background = 0.08 * 2 - 1
    return ((images - background).abs() > threshold).any(dim=1)


@functools.cache
def _centroid(shape: str, size: str) -> np.ndarray:
    rows, cols = np.nonzero(shape_mask(shapes.Attributes(shape, "red", "center", size)))
    return np.array([rows.mean(), cols.mean()])


def shape_names(images: torch.Tensor) -> list[str]:
    """Each image's shape by template matching, new shape included: the shape (at either size)
    whose mask, centred on the image's shape, has the largest intersection over union with
    the image's foreground; "none" when there is no shape."""
    out = []
    for fg in foreground(images).numpy():
        if fg.sum() < 4:
            out.append("none")
            continue
        rows, cols = np.nonzero(fg)
        best = (-1.0, "none")
        for shape in (*shapes.SHAPES, NAME):
            for size in shapes.SIZES:
                jitter = np.array([rows.mean(), cols.mean()]) - _centroid(shape, size)
                mask = shape_mask(shapes.Attributes(shape, "red", "center", size),
                                  jitter.astype(np.float32)) > 0.5
                best = max(best, ((mask & fg).sum() / (mask | fg).sum(), shape))
        out.append(best[1])
    return out


def concept_match(judge: Judge, images: torch.Tensor, attrs: list[shapes.Attributes]) -> dict:
    """Fractions of images of the asked shape (template matching: the judge knows only three
    shapes), colour and place (judge), and all three."""
    shape = torch.tensor([s == a.shape for s, a in zip(shape_names(images), attrs)])
    pred = judge.predict(images)
    colour = pred[:, 1] == torch.tensor([list(shapes.COLOURS).index(a.colour) for a in attrs])
    place = pred[:, 2] == torch.tensor([list(shapes.POSITIONS).index(a.position) for a in attrs])
    return {"shape": shape.float().mean().item(), "colour": colour.float().mean().item(),
            "position": place.float().mean().item(),
            "all": (shape & colour & place).float().mean().item()}
