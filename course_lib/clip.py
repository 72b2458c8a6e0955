"""A tiny CLIP for the shapes data: an image encoder and a text encoder trained so that an
image and its caption land on nearby unit vectors (Radford et al. 2021), at toy scale.

Introduced in notebook 09, where it gives the CLIP score of generated images against their
prompts. The text side is notebook 07's word tokenizer and transformer, read at <eos> as
CLIP does; training is metrics.clip_loss with a learned temperature.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from course_lib import metrics, text
from course_lib.config import Config
from course_lib.fit import fit
from course_lib.judge import conv_trunk

MAX_LOG_SCALE = math.log(100.0)  # CLIP clips its learned logit scale at 100


class TinyCLIP(nn.Module):
    """encode_image (B, 3, 32, 32) -> (B, embed_dim); encode_text (ids, mask) -> (B, embed_dim).
    log_scale is the learned log of the scale s that multiplies the cosine similarities."""

    def __init__(self, vocab_size: int, dim: int = 64, embed_dim: int = 64, width: int = 16):
        super().__init__()
        self.image = conv_trunk(width, 128, embed_dim)
        self.text = text.TextEncoder(vocab_size, dim)
        self.text_proj = nn.Linear(dim, embed_dim)
        self.log_scale = nn.Parameter(torch.tensor(math.log(1 / 0.07)))  # CLIP's start: s = 14.3

    def encode_image(self, images: torch.Tensor) -> torch.Tensor:
        return self.image(images)

    def encode_text(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        h = self.text(ids, mask)                                    # (B, L, dim)
        eos = h[torch.arange(len(ids)), mask.sum(1) - 1]            # the last real token
        return self.text_proj(eos)


@dataclass(frozen=True)
class ClipConfig(Config):
    """Notebook 09's tiny CLIP and its run (saved with data/clip.pt); vocab, the word -> id
    map of text.build_vocab, is set from the training captions."""
    dim: int = 64
    embed_dim: int = 64
    width: int = 16
    n_images: int = 20_000
    steps: int = 1500
    batch_size: int = 64
    lr: float = 2e-3
    noise: float = 0.05
    seed: int = 0
    vocab: dict[str, int] | None = None


def build(config: ClipConfig | dict) -> TinyCLIP:
    c = ClipConfig.from_dict(config)
    return TinyCLIP(len(c.vocab), c.dim, c.embed_dim, c.width)


@torch.no_grad()
def score(model: TinyCLIP, vocab: dict[str, int], images: torch.Tensor,
          captions: list[str]) -> torch.Tensor:
    """CLIP score of each image against its own caption, (B,) (metrics.clip_score)."""
    ids, mask = text.tokenize_batch(captions, vocab)
    image_emb = metrics.extract(model.encode_image, images)
    return metrics.clip_score(image_emb, model.encode_text(ids, mask))


def train_clip(model: TinyCLIP, images: torch.Tensor, captions: list[str],
               vocab: dict[str, int], steps: int = 1000, batch_size: int = 64, lr: float = 1e-3,
               noise: float = 0.05, seed: int = 0, progress: bool = True) -> list[float]:
    """Adam on metrics.clip_loss. Each batch holds batch_size *different* captions, one image
    of each: the loss treats every other caption in the batch as wrong, and with only 120
    distinct captions a random batch would often hold the same caption twice. A little pixel
    noise keeps the image encoder sensible on imperfect generated images."""
    names = sorted(set(captions))
    order = torch.tensor(sorted(range(len(captions)), key=lambda i: captions[i]))
    images = images[order]                                          # grouped by caption
    counts = torch.tensor([captions.count(c) for c in names])
    starts = counts.cumsum(0) - counts
    ids_all, mask_all = text.tokenize_batch(names, vocab)

    def loss_on_batch(gen: torch.Generator) -> torch.Tensor:
        picks = torch.randperm(len(names), generator=gen)[:batch_size]      # distinct captions
        idx = starts[picks] + (torch.rand(len(picks), generator=gen) * counts[picks]).long()
        x = images[idx] + noise * torch.randn(images[idx].shape, generator=gen)
        return metrics.clip_loss(model.encode_image(x),
                                 model.encode_text(ids_all[picks], mask_all[picks]),
                                 model.log_scale)

    @torch.no_grad()
    def clamp_scale() -> None:
        model.log_scale.clamp_(max=MAX_LOG_SCALE)

    return fit(model, loss_on_batch, steps, lr, seed=seed, after_step=clamp_scale,
               desc="tiny CLIP", progress=progress)
