"""A small diffusion transformer (DiT) on notebook 07's shape latents, trained with flow
matching: patches as tokens, adaLN-Zero conditioning on the time and the pooled caption,
joint attention over the caption's tokens and the image's tokens.

Introduced in notebook 12's second half (Peebles & Xie, "Scalable diffusion models with
transformers", 2023; Esser et al., "Scaling rectified flow transformers" (SD3), 2024). The
model is a velocity model, dit(z_t, t, cond) -> v_hat, like flow.FlowMLP: z_t (B, 4, 8, 8)
are scaled VAE latents on the straight path, t in [0, 1] (a number or (B,)), cond = (ids,
mask) from text.tokenize_batch. flow.as_denoiser turns it into the course's denoiser.

What this is not: SD3's MMDiT. Our blocks share one set of weights between caption and
image tokens (FLUX's "single-stream" blocks); SD3 gives each its own weights and joins them
only inside attention. Notebook 12 says why.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from course_lib import text
from course_lib.config import Config
from course_lib.diffusion import batch_sigma

# The notebook's exercises: each reference lives once, in its exercise file.
from course_lib.exercises.nb12.adaln_zero import adaln_zero
from course_lib.exercises.nb12.flow_loss import flow_loss
from course_lib.exercises.nb12.modulate import modulate
from course_lib.exercises.nb12.patchify import patchify
from course_lib.exercises.nb12.unpatchify import unpatchify
from course_lib.fit import fit
from course_lib.runtime import progress_bar

__all__ = ["DiT", "DiTBlock", "DiTConfig", "adaln_zero", "build", "generate", "guided_velocity",
           "load", "logit_normal", "modulate", "patchify", "positions_2d", "shift_times",
           "time_embedding", "train_dit", "unpatchify"]


def time_embedding(t: torch.Tensor, dim: int) -> torch.Tensor:
    """Sinusoidal features of 1000 t (the timestep diffusers passes to SD3's transformer):
    t (B,) -> (B, dim), cosines then sines of geometrically spaced frequencies."""
    half = dim // 2
    freqs = torch.exp(-math.log(10_000) * torch.arange(half, dtype=t.dtype, device=t.device)
                      / half)
    angles = 1000 * t[:, None] * freqs[None]
    return torch.cat([angles.cos(), angles.sin()], dim=1)


def positions_2d(rows: int, cols: int, dim: int) -> torch.Tensor:
    """Fixed 2D sinusoidal positions (DiT's): half the features encode the patch's row, half
    its column, in patchify's reading order. -> (rows * cols, dim)."""
    r, c = torch.meshgrid(torch.arange(rows, dtype=torch.float32),
                          torch.arange(cols, dtype=torch.float32), indexing="ij")

    def axis(pos: torch.Tensor, d: int) -> torch.Tensor:
        freqs = 1 / 10_000 ** (torch.arange(d // 2, dtype=torch.float32) / (d // 2))
        angles = pos.flatten()[:, None] * freqs[None]
        return torch.cat([angles.sin(), angles.cos()], dim=1)
    return torch.cat([axis(r, dim // 2), axis(c, dim // 2)], dim=1)


class DiTBlock(nn.Module):
    """One transformer block with adaLN-Zero: self-attention over all tokens (caption and
    image together: joint attention), then an MLP, each on modulate(x, shift, scale) and
    added back through a gate; shifts, scales and gates come from the condition c by
    adaln_zero, so the block starts as the identity. x: (B, L, dim), c: (B, dim),
    mask: (B, L) bool, False on padding tokens (never attended to)."""

    def __init__(self, dim: int, heads: int, mlp_ratio: int = 4):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.mlp = nn.Sequential(nn.Linear(dim, mlp_ratio * dim), nn.GELU(approximate="tanh"),
                                 nn.Linear(mlp_ratio * dim, dim))
        self.adaLN = adaln_zero(dim, dim, 6)

    def attend(self, h: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        B, L, D = h.shape
        q, k, v = self.qkv(h).reshape(B, L, 3, self.heads, D // self.heads).permute(2, 0, 3, 1, 4)
        keep = None if mask is None else mask[:, None, None, :]
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=keep)
        return self.proj(out.transpose(1, 2).reshape(B, L, D))

    def forward(self, x: torch.Tensor, c: torch.Tensor, mask: torch.Tensor | None = None):
        shift1, scale1, gate1, shift2, scale2, gate2 = self.adaLN(c).chunk(6, dim=1)
        x = x + gate1[:, None] * self.attend(modulate(x, shift1, scale1), mask)
        return x + gate2[:, None] * self.mlp(modulate(x, shift2, scale2))


class DiT(nn.Module):
    """v_theta(z_t, t, (ids, mask)): a text encoder (notebook 07's), the latent cut into
    p x p patch tokens plus fixed 2D positions, the caption's tokens projected to the same
    width and put in front of them, depth DiTBlocks conditioned on c = embedding of t +
    projection of the mean caption token, a final modulated layer (zero at the start) and
    unpatchify. z: (B, channels, size, size) -> v_hat of the same shape."""

    def __init__(self, vocab_size: int, channels: int = 4, size: int = 8, patch: int = 2,
                 dim: int = 128, depth: int = 8, heads: int = 4, text_dim: int = 64,
                 mlp_ratio: int = 4):
        super().__init__()
        self.patch, self.size, self.dim = patch, size, dim
        self.text = text.TextEncoder(vocab_size, text_dim)
        self.patch_in = nn.Linear(patch * patch * channels, dim)
        self.register_buffer("pos", positions_2d(size // patch, size // patch, dim),
                             persistent=False)
        self.time_mlp = nn.Sequential(nn.Linear(dim, dim), nn.SiLU(), nn.Linear(dim, dim))
        self.pooled = nn.Linear(text_dim, dim)     # the pooled caption, into c
        self.context = nn.Linear(text_dim, dim)    # the caption's tokens, into the sequence
        self.blocks = nn.ModuleList([DiTBlock(dim, heads, mlp_ratio) for _ in range(depth)])
        self.final_adaLN = adaln_zero(dim, dim, 2)
        self.out = nn.Linear(dim, patch * patch * channels)
        nn.init.zeros_(self.out.weight)            # v_hat = 0 at the start, as DiT does
        nn.init.zeros_(self.out.bias)

    def forward(self, z: torch.Tensor, t, cond) -> torch.Tensor:
        ids, mask = cond
        t = batch_sigma(t, z)                                               # (B,)
        x = self.patch_in(patchify(z, self.patch)) + self.pos.to(z.dtype)   # (B, N, dim)
        words = self.text(ids, mask)                                        # (B, L, text_dim)
        m = mask[..., None].to(words.dtype)
        c = (self.time_mlp(time_embedding(t, self.dim))
             + self.pooled((words * m).sum(1) / m.sum(1).clamp(min=1)))     # (B, dim)
        n_words = ids.shape[1]
        h = torch.cat([self.context(words), x], dim=1)                      # (B, L + N, dim)
        keep = torch.cat([mask, torch.ones(x.shape[:2], dtype=torch.bool, device=z.device)], 1)
        for block in self.blocks:
            h = block(h, c, keep)
        shift, scale = self.final_adaLN(c).chunk(2, dim=1)
        out = self.out(modulate(h[:, n_words:], shift, scale))             # (B, N, p*p*C)
        return unpatchify(out, self.patch, z.shape[2], z.shape[3])


@dataclass(frozen=True)
class DiTConfig(Config):
    """Notebook 12's DiT and its flow-matching run (data/dit_shapes.pt); vocab is set from
    the training captions, as for notebook 07's model. t_sampling: "logit_normal" (SD3's
    default, m = 0, s = 1) or "uniform"."""
    dim: int = 128
    depth: int = 6
    heads: int = 4
    patch: int = 2
    text_dim: int = 64
    mlp_ratio: int = 4
    n_images: int = 20_000
    steps: int = 1500
    batch_size: int = 64
    lr: float = 1e-3
    p_empty: float = 0.1
    t_sampling: str = "logit_normal"
    seed: int = 0
    vocab: dict[str, int] | None = None


def build(c: DiTConfig | dict) -> DiT:
    """Notebook 12's DiT from its config (as saved with data/dit_shapes.pt)."""
    c = DiTConfig.from_dict(c)
    return DiT(len(c.vocab), patch=c.patch, dim=c.dim, depth=c.depth, heads=c.heads,
               text_dim=c.text_dim, mlp_ratio=c.mlp_ratio)


def load():
    """(model, config, losses) of data/dit_shapes.pt, with a plain message when missing."""
    from course_lib.runtime import DATA_DIR, load_model

    path = DATA_DIR / "dit_shapes.pt"
    if not path.exists():
        raise FileNotFoundError(
            f"{path} is missing. It ships with the course: restore it with `git checkout -- "
            "data/dit_shapes.pt`, or rebuild it with `python -m course_lib.train dit` "
            "(see data/README.md).")
    return load_model(path, build, DiTConfig)


def logit_normal(n: int, m: float = 0.0, s: float = 1.0,
                 generator: torch.Generator | None = None) -> torch.Tensor:
    """SD3's training times: sigmoid of a normal N(m, s^2), n of them. More weight in the
    middle of [0, 1] than uniform t, little at the ends."""
    return torch.sigmoid(m + s * torch.randn(n, generator=generator))


def shift_times(t: torch.Tensor, shift: float) -> torch.Tensor:
    """SD3's time shift, shift t / (1 + (shift - 1) t): the same ends 0 and 1, more of the
    steps at large t (shift > 1) for images whose many pixels keep the picture visible
    through more noise. In the sigma view it multiplies sigma = t / (1 - t) by shift."""
    return shift * t / (1 + (shift - 1) * t)


def guided_velocity(model: nn.Module, cond, w: float, uncond):
    """velocity(z, t) with classifier-free guidance against the empty prompt `uncond`
    ((1, L) ids and mask): v_u + w (v_c - v_u), one batched model call."""
    ids, mask = cond
    u_ids, u_mask = (u.expand(len(ids), -1) for u in uncond)

    def velocity(z: torch.Tensor, t, _=None) -> torch.Tensor:
        t = batch_sigma(t, z)
        both = model(torch.cat([z, z]), torch.cat([t, t]),
                     (torch.cat([ids, u_ids]), torch.cat([mask, u_mask])))
        v_c, v_u = both.chunk(2)
        return v_u + w * (v_c - v_u)
    return velocity


@torch.no_grad()
def generate(model: DiT, autoencoder, scale: float, vocab: dict[str, int],
             prompts: list[str], w: float = 3.0, steps: int = 25, seed: int = 0,
             shift: float = 1.0, batch_size: int = 64, progress: bool = False) -> torch.Tensor:
    """Images (B, 3, 32, 32) for the prompts: guided Euler sampling of the flow ODE from
    t = 1 to 0 on shift_times of an even grid (flow.euler_flow_samples), then decode.
    Fresh noise from one seeded generator, in batches of batch_size."""
    from course_lib import flow, vae

    gen = torch.Generator().manual_seed(seed)
    ts = shift_times(flow.times(steps), shift)
    empty = text.tokenize_batch([""], vocab)
    out = []
    for i in progress_bar(range(0, len(prompts), batch_size), desc="DiT batches",
                          disable=not progress):
        batch = prompts[i:i + batch_size]
        v = guided_velocity(model, text.tokenize_batch(batch, vocab), w, empty)
        noise = torch.randn(len(batch), 4, model.size, model.size, generator=gen)
        z = list(flow.euler_flow_samples(v, ts, noise))[-1]
        out.append(vae.decode_latents(autoencoder.decoder, z, scale))
    return torch.cat(out)


def train_dit(model: DiT, latents: torch.Tensor, captions: list[str], vocab: dict[str, int],
              steps: int, batch_size: int = 64, lr: float = 1e-3, p_empty: float = 0.1,
              t_sampling: str = "logit_normal", seed: int = 0,
              progress: bool = True) -> list[float]:
    """Flow matching on latents (already scaled) through course_lib.fit's loop and the
    learner's flow_loss: each step draws batch_size rows, empties each caption with
    probability p_empty (for guidance), draws t (logit-normal or uniform) and fresh noise."""
    ids_all, mask_all = text.tokenize_batch(captions, vocab)
    empty_ids, empty_mask = text.tokenize_batch([""], vocab)

    def loss_on_batch(gen: torch.Generator) -> torch.Tensor:
        idx = torch.randint(len(latents), (batch_size,), generator=gen)
        drop = (torch.rand(batch_size, generator=gen) < p_empty)[:, None]
        ids = torch.where(drop, empty_ids, ids_all[idx])
        mask = torch.where(drop, empty_mask, mask_all[idx])
        t = (logit_normal(batch_size, generator=gen) if t_sampling == "logit_normal"
             else torch.rand(batch_size, generator=gen))
        z0 = latents[idx]
        eps = torch.randn(z0.shape, generator=gen)
        return flow_loss(lambda z, s: model(z, s, (ids, mask)), z0, t, eps)

    return fit(model, loss_on_batch, steps, lr, seed=seed, progress=progress,
               desc="DiT flow matching")
