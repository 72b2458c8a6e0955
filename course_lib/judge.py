"""A judge for the shapes data: a small CNN that reads shape, colour and position.

Introduced in notebook 06 to put numbers on generated images (does a sample show a clean
shape? does it match its prompt?). Trained on every combination, held-out pairs included:
it is the examiner, not a generator.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from course_lib import shapes
from course_lib.config import Config
from course_lib.fit import fit

HEADS = {"shape": len(shapes.SHAPES), "colour": len(shapes.COLOURS),
         "position": len(shapes.POSITIONS)}


def conv_trunk(width: int, out_dim: int, proj_dim: int | None = None) -> nn.Sequential:
    """The small CNN shared by the judge, notebook 09's feature net and its tiny CLIP's image
    tower: three conv + SiLU + max-pool stages (32 -> 4 pixels), then a linear layer to
    out_dim features with SiLU, then (if proj_dim) a linear projection to proj_dim.
    (B, 3, 32, 32) -> (B, out_dim or proj_dim)."""
    layers = [
        nn.Conv2d(3, width, 3, padding=1), nn.SiLU(), nn.MaxPool2d(2),               # 16x16
        nn.Conv2d(width, 2 * width, 3, padding=1), nn.SiLU(), nn.MaxPool2d(2),       # 8x8
        nn.Conv2d(2 * width, 2 * width, 3, padding=1), nn.SiLU(), nn.MaxPool2d(2),   # 4x4
        nn.Flatten(), nn.Linear(2 * width * 16, out_dim), nn.SiLU()]
    if proj_dim is not None:
        layers.append(nn.Linear(out_dim, proj_dim))
    return nn.Sequential(*layers)


class Judge(nn.Module):
    """(B, 3, 32, 32) in [-1, 1] -> dict of logits per head."""

    def __init__(self, width: int = 16):
        super().__init__()
        self.features = conv_trunk(width, 128)
        self.heads = nn.ModuleDict({k: nn.Linear(128, n) for k, n in HEADS.items()})

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        h = self.features(x)
        return {k: head(h) for k, head in self.heads.items()}

    @torch.no_grad()
    def predict(self, x: torch.Tensor) -> torch.Tensor:
        """Predicted (shape, colour, position) indices, (B, 3)."""
        logits = self(x)
        return torch.stack([logits[k].argmax(1) for k in HEADS], dim=1)


@dataclass(frozen=True)
class JudgeConfig(Config):
    """The judge's training run (saved with data/shapes_judge.pt); the model has no settings."""
    steps: int = 600
    batch_size: int = 128
    n: int = 20_000
    seed: int = 0


def build(config: JudgeConfig | dict | None = None) -> Judge:
    """The judge, empty (its config only records the training run)."""
    return Judge()


def train_judge(steps: int = 600, batch_size: int = 128, n: int = 20_000, seed: int = 0,
                progress: bool = True) -> tuple[Judge, list[float]]:
    """Adam on the summed cross-entropies of the three heads, on shapes images; a quarter of
    each batch is garbage (noise, smooth colour blobs) whose target is the uniform
    distribution, so that the judge is unsure, not confidently wrong, on non-shapes."""
    torch.manual_seed(seed)
    images, _, labels = shapes.make_dataset(n, seed=seed, include_held_out=True)
    # small pixel noise so that imperfect generated images are still read sensibly
    model = Judge()

    def loss_on_batch(gen: torch.Generator) -> torch.Tensor:
        idx = torch.randint(n, (batch_size,), generator=gen)
        x = images[idx] + 0.1 * torch.randn(images[idx].shape, generator=gen)
        junk = _garbage(batch_size // 4, gen)
        logits, junk_logits = model(x), model(junk)
        return sum(nn.functional.cross_entropy(logits[k], labels[idx, i])
                   - torch.log_softmax(junk_logits[k], dim=1).mean()
                   for i, k in enumerate(HEADS))

    losses = fit(model, loss_on_batch, steps, 2e-3, seed=seed, cosine=False, desc="judge",
                 progress=progress)
    return model, losses


def _garbage(n: int, gen: torch.Generator) -> torch.Tensor:
    """n images that show no shape at all: pixel noise and smooth colour blobs."""
    k = n // 2
    noise = torch.randn(k, 3, 32, 32, generator=gen).clamp(-1, 1)
    blobs = torch.nn.functional.interpolate(torch.randn(n - k, 3, 4, 4, generator=gen),
                                            size=32, mode="bilinear").clamp(-1, 1)
    return torch.cat([noise, blobs])


def match_rate(judge: Judge, images: torch.Tensor, attrs: list[shapes.Attributes]) -> dict:
    """Fractions of images whose shape, colour, position, and all three, match `attrs`."""
    pred = judge.predict(images)
    want = torch.tensor([a.labels for a in attrs])
    hits = pred == want
    return {"shape": hits[:, 0].float().mean().item(), "colour": hits[:, 1].float().mean().item(),
            "position": hits[:, 2].float().mean().item(), "all": hits.all(1).float().mean().item()}


@torch.no_grad()
def recognised(judge: Judge, images: torch.Tensor, threshold: float = 0.9) -> torch.Tensor:
    """Per image: True when every head is at least `threshold` sure of its answer, i.e. the
    image shows one clear shape, colour and position. Returns (B,) bool."""
    probs = [torch.softmax(v, dim=1).max(dim=1).values for v in judge(images).values()]
    return torch.stack(probs, dim=1).min(dim=1).values >= threshold
