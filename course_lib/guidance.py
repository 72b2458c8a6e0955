"""Classifier-free guidance on a labelled 2D toy: the spiral cut into three arms.

Introduced in notebook 05. One network learns both eps(x, sigma, c) and eps(x, sigma) by
replacing the label with a "no condition" token (id NULL = n_classes) at random during
training; sampling mixes the two: eps_u + w * (eps_c - eps_u), w = 1 meaning no guidance
(diffusers' guidance_scale convention).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from course_lib import diffusion, spiral

N_CLASSES = 3
NULL = N_CLASSES  # the "no condition" token

# The notebook's exercises: each reference lives once, in its exercise file. Imported after
# NULL, which those files read (course_lib/exercises/nb05/ loads this module first).
from course_lib.exercises.nb05.adherence import adherence  # noqa: E402
from course_lib.exercises.nb05.cfg_denoise import cfg_denoise  # noqa: E402
from course_lib.exercises.nb05.cfg_eps import cfg_eps  # noqa: E402
from course_lib.exercises.nb05.drop_condition import drop_condition  # noqa: E402
from course_lib.exercises.nb05.guided_samples import guided_samples  # noqa: E402

__all__ = ["N_CLASSES", "NULL", "CondConfig", "ConditionalDenoiser", "adherence", "build",
           "cfg_denoise", "cfg_eps", "drop_condition", "guided", "guided_samples",
           "labelled_spiral", "train_conditional"]


@dataclass(frozen=True)
class CondConfig(spiral.SpiralConfig):
    """Notebook 05's conditional denoiser and its run (saved with data/spiral_cond.pt)."""
    depth: int = 3  # as trained (notebook 01's model has 4 since; this one keeps its 3)
    n_points: int = 255
    label_noise: float = 0.25
    p_uncond: float = 0.2


def labelled_spiral(n: int = 255, label_noise: float = 0.25,
                    seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The spiral's points (n, 2), the arm of each (0, 1, 2: inner, middle, outer third) and
    the training labels: the arm, except for a fraction label_noise of points that carry a
    random label instead (like wrong captions in real data)."""
    points = spiral.make_spiral(n)
    arms = torch.arange(n) * N_CLASSES // n
    gen = torch.Generator().manual_seed(seed)
    noisy = torch.rand(n, generator=gen) < label_noise
    labels = torch.where(noisy, torch.randint(N_CLASSES, (n,), generator=gen), arms)
    return points, arms, labels


def guided(denoiser, cond, w: float, uncond=None):
    """Classifier-free guidance around any denoiser(x, sigma, cond), as a denoiser(x, sigma)
    for the samplers: one model call on [x, x] with [uncond, cond], mixed by cfg_eps. The one
    place the course batches and splits for guidance (notebooks 05, 07, 08, 09, 10).

    cond: a tensor with a batch dimension, or a tuple of them (token ids and mask); uncond:
    the same structure (a batch of 1 is expanded), by default NULL labels (notebook 05)."""
    both = _uncond_then_cond(torch.full_like(cond, NULL) if uncond is None else uncond, cond)

    def denoise(x: torch.Tensor, sigma) -> torch.Tensor:
        sigma = diffusion.batch_sigma(sigma, x)
        eps_uncond, eps_cond = denoiser(torch.cat([x, x]), torch.cat([sigma, sigma]),
                                        both).chunk(2)
        return cfg_eps(eps_uncond, eps_cond, w)
    return denoise


def _uncond_then_cond(uncond, cond):
    if isinstance(cond, (tuple, list)):
        return tuple(_uncond_then_cond(u, c) for u, c in zip(uncond, cond))
    return torch.cat([uncond.expand_as(cond), cond])


class ConditionalDenoiser(spiral.SpiralDenoiser):
    """The spiral MLP with a learned label embedding (N_CLASSES + 1 rows, the last = NULL)
    added to its input: eps_theta(x, sigma, cond), cond: (B,) ints or None for NULL."""

    def __init__(self, hidden: int = 128, depth: int = 3, emb_dim: int = 16,
                 sigma_min: float = 0.01, sigma_max: float = 10.0):
        super().__init__(hidden, depth, emb_dim, sigma_min, sigma_max)
        self.label_emb = nn.Embedding(N_CLASSES + 1, emb_dim)
        first = self.net[0]
        self.net[0] = nn.Linear(first.in_features + emb_dim, first.out_features)

    def forward(self, x: torch.Tensor, sigma, cond=None) -> torch.Tensor:
        sigma = diffusion.batch_sigma(sigma, x)
        if cond is None:
            cond = torch.full((x.shape[0],), NULL, dtype=torch.long, device=x.device)
        x_in = x / torch.sqrt(1 + sigma[:, None] ** 2)
        emb = spiral.sigma_embedding(sigma.clamp(self.sigma_min, self.sigma_max), self.emb_dim)
        return self.net(torch.cat([x_in, emb, self.label_emb(cond)], dim=1))


def build(c: CondConfig | dict) -> ConditionalDenoiser:
    """Notebook 05's conditional denoiser from its config (as saved with data/spiral_cond.pt)."""
    c = CondConfig.from_dict(c)
    return ConditionalDenoiser(c.hidden, c.depth, c.emb_dim, c.sigma_min, c.sigma_max)


def train_conditional(model: ConditionalDenoiser, data: torch.Tensor, labels: torch.Tensor,
                      steps: int, p_uncond: float = 0.2, batch_size: int = 256,
                      lr: float = 3e-3, seed: int = 0, progress: bool = True) -> list[float]:
    """notebook 01's loop with labels, a fraction p_uncond of them dropped to NULL."""
    def labels_dropped(idx: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        return drop_condition(labels[idx], p_uncond, gen)

    schedule = diffusion.Schedule(model.sigma_min, model.sigma_max)
    return diffusion.train_denoiser(model, data, steps, batch_size, lr, schedule, seed,
                                    progress, batch_cond=labels_dropped)
