"""A captioned image data set that needs no download: coloured shapes on a dark background.

Introduced in notebook 06, used in 07-08. Each 32x32 RGB image holds one shape (circle,
square, triangle) of one colour (red, green, blue, yellow), large or small, in one of five
places, with a caption such as "a small red circle at the top left". Images are tensors
in [-1, 1], shape (3, 32, 32). Deterministic from a seed. `load_folder` reads a learner's
own images through the same interface.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

SHAPES = ("circle", "square", "triangle")
COLOURS = {"red": (0.9, 0.15, 0.15), "green": (0.15, 0.8, 0.2), "blue": (0.2, 0.35, 0.95),
           "yellow": (0.95, 0.85, 0.1)}
POSITIONS = {"top left": (9, 9), "top right": (9, 23), "bottom left": (23, 9),
             "bottom right": (23, 23), "center": (16, 16)}  # (row, column) of the centre
SIZES = {"small": 4.5, "large": 7.5}  # half-width in pixels
# Never generated for training, so prompts for them test composition, not memory.
HELD_OUT = (("blue", "triangle"), ("yellow", "circle"))
SIZE = 32


@dataclass(frozen=True)
class Attributes:
    shape: str
    colour: str
    position: str
    size: str

    @property
    def caption(self) -> str:
        return f"a {self.size} {self.colour} {self.shape} at the {self.position}".replace(
            "at the center", "in the center")

    @property
    def labels(self) -> tuple[int, int, int]:
        """(shape, colour, position) indices, the judge's three targets."""
        return (SHAPES.index(self.shape), list(COLOURS).index(self.colour),
                list(POSITIONS).index(self.position))


def _mask(attrs: Attributes, jitter: np.ndarray) -> np.ndarray:
    rows, cols = np.mgrid[0:SIZE, 0:SIZE].astype(np.float32) + 0.5
    r0, c0 = np.array(POSITIONS[attrs.position], dtype=np.float32) + jitter
    h = SIZES[attrs.size]
    dy, dx = rows - r0, cols - c0
    if attrs.shape == "circle":
        return (dy**2 + dx**2 <= h**2).astype(np.float32)
    if attrs.shape == "square":
        return ((np.abs(dy) <= h * 0.85) & (np.abs(dx) <= h * 0.85)).astype(np.float32)
    # upward triangle: apex at the top, base at the bottom
    inside = (dy <= h * 0.8) & (dy >= -h) & (np.abs(dx) <= (dy + h) * 0.58)
    return inside.astype(np.float32)


def render(attrs: Attributes, rng: np.random.Generator | None = None) -> torch.Tensor:
    """One image (3, 32, 32) in [-1, 1]; rng adds a small position jitter and shade noise."""
    jitter = rng.uniform(-1.5, 1.5, size=2) if rng is not None else np.zeros(2)
    shade = rng.uniform(0.85, 1.0) if rng is not None else 1.0
    mask = _mask(attrs, jitter)
    colour = np.array(COLOURS[attrs.colour], dtype=np.float32) * shade
    background = np.full(3, 0.08, dtype=np.float32)
    img = background[:, None, None] * (1 - mask) + colour[:, None, None] * mask
    return torch.from_numpy(img * 2 - 1)


def all_attributes(include_held_out: bool = False) -> list[Attributes]:
    """Every combination, in a fixed order (held-out colour/shape pairs left out by default)."""
    return [Attributes(s, c, p, z) for s in SHAPES for c in COLOURS for p in POSITIONS
            for z in SIZES if include_held_out or (c, s) not in HELD_OUT]


def make_dataset(n: int, seed: int = 0, include_held_out: bool = False):
    """n images (n, 3, 32, 32), their captions and labels (n, 3): random combinations."""
    rng = np.random.default_rng(seed)
    combos = all_attributes(include_held_out)
    picks = rng.integers(len(combos), size=n)
    attrs = [combos[i] for i in picks]
    images = torch.stack([render(a, rng) for a in attrs])
    labels = torch.tensor([a.labels for a in attrs])
    return images, [a.caption for a in attrs], labels


def parse_caption(caption: str) -> Attributes:
    """The attributes named by a caption written like the data set's (for prompts)."""
    words = caption.lower().replace("in the center", "at the center")
    found = {"shape": [s for s in SHAPES if s in words],
             "colour": [c for c in COLOURS if c in words],
             "position": [p for p in POSITIONS if f"at the {p}" in words],
             "size": [z for z in SIZES if z in words]}
    missing = [k for k, v in found.items() if len(v) != 1]
    if missing:
        raise ValueError(f"cannot read the {' and '.join(missing)} from {caption!r}; write "
                         "captions like 'a small red circle at the top left'")
    return Attributes(*(found[k][0] for k in ("shape", "colour", "position", "size")))


def load_folder(folder, size: int = SIZE) -> tuple[torch.Tensor, list[str]]:
    """Your own images: every .png/.jpg in `folder`, resized to size x size, in [-1, 1].
    Captions come from captions.txt ("file.png: a caption" per line) or the file names."""
    from PIL import Image

    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder} is not a folder of images")
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in {".png", ".jpg", ".jpeg"})
    if not files:
        raise FileNotFoundError(f"no .png or .jpg images in {folder}")
    captions = {}
    if (folder / "captions.txt").exists():
        for line in (folder / "captions.txt").read_text(encoding="utf-8").splitlines():
            if ":" in line:
                name, text = line.split(":", 1)
                captions[name.strip()] = text.strip()
    images = []
    for p in files:
        img = Image.open(p).convert("RGB").resize((size, size), Image.BILINEAR)
        pixels = np.asarray(img, dtype=np.float32) / 127.5 - 1             # (H, W, 3)
        images.append(torch.from_numpy(pixels).permute(2, 0, 1))
    return torch.stack(images), [captions.get(p.name, p.stem.replace("_", " ")) for p in files]


def to_image(x: torch.Tensor) -> np.ndarray:
    """(3, H, W) in [-1, 1] -> (H, W, 3) uint8 for plotting or saving."""
    return ((x.detach().cpu().clamp(-1, 1) + 1) * 127.5).round().byte().permute(1, 2, 0).numpy()


def grid(images: torch.Tensor, nrow: int = 8, pad: int = 2) -> np.ndarray:
    """(N, 3, H, W) in [-1, 1] -> one (rows*H, nrow*W, 3) uint8 picture (no torchvision)."""
    n, _, h, w = images.shape
    rows = -(-n // nrow)
    out = np.full((rows * (h + pad) + pad, nrow * (w + pad) + pad, 3), 255, dtype=np.uint8)
    for i in range(n):
        r, c = divmod(i, nrow)
        out[pad + r * (h + pad):pad + r * (h + pad) + h,
            pad + c * (w + pad):pad + c * (w + pad) + w] = to_image(images[i])
    return out
