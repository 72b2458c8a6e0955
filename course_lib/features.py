"""The feature encoder behind the course's FID and KID: a small classifier of the shapes data
whose next-to-last layer plays the part of Inception-v3's 2048 "pool3" features.

Introduced in notebook 09. It classifies each image into one of the 120 combinations of
shape, colour, position and size (held-out pairs included: it is an examiner, like the
judge), and FID compares the distributions of its 64 features, never its class guesses.
The features are divided by their root-mean-square on training images (stored with the
weights), so that KID's kernel (x . y / d + 1)^3 sees numbers of order one.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from course_lib import shapes
from course_lib.config import Config
from course_lib.fit import fit
from course_lib.judge import conv_trunk

CLASSES = [a.caption for a in shapes.all_attributes(include_held_out=True)]  # 120 captions


class FeatureNet(nn.Module):
    """(B, 3, 32, 32) in [-1, 1] -> logits (B, 120); .features(x) -> (B, dim)."""

    def __init__(self, width: int = 16, dim: int = 64):
        super().__init__()
        self.body = conv_trunk(width, dim)
        self.head = nn.Linear(dim, len(CLASSES))
        self.register_buffer("scale", torch.ones(()))   # set after training

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x))

    @torch.no_grad()
    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The next-to-last layer divided by `scale`, (B, dim): what FID and KID compare."""
        return self.body(x) / self.scale


@dataclass(frozen=True)
class FeaturesConfig(Config):
    """Notebook 09's feature net and its training run (saved with data/features.pt)."""
    width: int = 16
    dim: int = 64
    steps: int = 1500
    batch_size: int = 128
    n: int = 20_000
    lr: float = 2e-3
    seed: int = 0


def build(config: FeaturesConfig | dict) -> FeatureNet:
    c = FeaturesConfig.from_dict(config)
    return FeatureNet(c.width, c.dim)


def class_ids(captions: list[str]) -> torch.Tensor:
    """Index of each caption in CLASSES, (B,) int64."""
    index = {c: i for i, c in enumerate(CLASSES)}
    return torch.tensor([index[c] for c in captions])


def train_features(model: FeatureNet, steps: int = 1500, batch_size: int = 128, n: int = 20_000,
                   lr: float = 2e-3, seed: int = 0, progress: bool = True) -> list[float]:
    """Adam on the cross-entropy over the 120 classes, on clean shapes images (no noise added:
    Inception never saw noisy photographs either, and FID should notice noise)."""
    torch.manual_seed(seed)
    images, captions, _ = shapes.make_dataset(n, seed=seed, include_held_out=True)
    labels = class_ids(captions)

    def loss_on_batch(gen: torch.Generator) -> torch.Tensor:
        idx = torch.randint(n, (batch_size,), generator=gen)
        return nn.functional.cross_entropy(model(images[idx]), labels[idx])

    losses = fit(model, loss_on_batch, steps, lr, seed=seed, cosine=False, desc="feature net",
                 progress=progress)
    with torch.no_grad():
        model.scale.fill_(model.body(images[:2000]).pow(2).mean().sqrt())
    return losses
