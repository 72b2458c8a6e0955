"""Classifier-free guidance on a labelled 2D toy: the spiral cut into three arms.

Introduced in notebook 05. One network learns both eps(x, sigma, c) and eps(x, sigma) by
replacing the label with a "no condition" token (id NULL = n_classes) at random during
training; sampling mixes the two: eps_u + w * (eps_c - eps_u), w = 1 meaning no guidance
(diffusers' guidance_scale convention).
"""
from __future__ import annotations

import torch
from torch import nn
from tqdm.auto import tqdm

from course_lib import spiral

N_CLASSES = 3
NULL = N_CLASSES  # the "no condition" token


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


def drop_condition(labels: torch.Tensor, p: float, generator=None) -> torch.Tensor:
    """Replace each label by NULL with probability p (condition dropout). Returns a new tensor."""
    drop = torch.rand(labels.shape, generator=generator) < p
    return torch.where(drop, torch.full_like(labels, NULL), labels)


def cfg_eps(eps_uncond: torch.Tensor, eps_cond: torch.Tensor, w: float) -> torch.Tensor:
    """Guided prediction eps_u + w * (eps_c - eps_u) (Ho & Salimans 2022, in diffusers' scale)."""
    return eps_uncond + w * (eps_cond - eps_uncond)


def cfg_denoise(denoiser, x: torch.Tensor, sigma, cond: torch.Tensor, w: float) -> torch.Tensor:
    """Run the denoiser with and without the condition in one batch, then combine with cfg_eps."""
    sigma = torch.as_tensor(sigma, dtype=x.dtype).expand(x.shape[0])
    both = denoiser(torch.cat([x, x]), torch.cat([sigma, sigma]),
                    torch.cat([torch.full_like(cond, NULL), cond]))
    eps_uncond, eps_cond = both.chunk(2)
    return cfg_eps(eps_uncond, eps_cond, w)


def guided(denoiser, cond: torch.Tensor, w: float):
    """A plain denoiser(x, sigma) for samplers.samples that always applies guidance to cond."""
    return lambda x, sigma: cfg_denoise(denoiser, x, sigma, cond, w)


def adherence(samples: torch.Tensor, target: int, data: torch.Tensor,
              labels: torch.Tensor) -> float:
    """Fraction of samples whose nearest data point has label `target`."""
    nearest = torch.cdist(samples, data).argmin(dim=1)
    return (labels[nearest] == target).float().mean().item()


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
        sigma = torch.as_tensor(sigma, dtype=x.dtype, device=x.device).expand(x.shape[0])
        if cond is None:
            cond = torch.full((x.shape[0],), NULL, dtype=torch.long, device=x.device)
        x_in = x / torch.sqrt(1 + sigma[:, None] ** 2)
        emb = spiral.sigma_embedding(sigma.clamp(self.sigma_min, self.sigma_max), self.emb_dim)
        return self.net(torch.cat([x_in, emb, self.label_emb(cond)], dim=1))


def train_conditional(model: ConditionalDenoiser, data: torch.Tensor, labels: torch.Tensor,
                      steps: int, p_uncond: float = 0.2, batch_size: int = 256,
                      lr: float = 3e-3, seed: int = 0, progress: bool = True) -> list[float]:
    """notebook 01's loop with labels, a fraction p_uncond of them dropped to NULL."""
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=steps)
    losses = []
    for _ in tqdm(range(steps), desc="training", disable=not progress):
        idx = torch.randint(len(data), (batch_size,), generator=gen)
        x0, cond = data[idx], drop_condition(labels[idx], p_uncond, gen)
        sigma = spiral.sample_sigmas(batch_size, model.sigma_min, model.sigma_max, gen)
        eps = torch.randn(x0.shape, generator=gen)
        loss = ((model(spiral.add_noise(x0, sigma, eps), sigma, cond) - eps) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        losses.append(loss.item())
    return losses
