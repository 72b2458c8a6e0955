"""Responsible use of a generator: an invisible watermark and a content filter in the pipeline.

Introduced in notebook 10. The watermark adds a keyed +/- pattern at a few levels out of 255
and finds it again by correlation; without the key's pattern the score is a standard normal,
so its false-alarm rate is known in advance. The filter screens prompts by rule and images in
the pipeline's own safety_checker slot, built the way Stable Diffusion's checker is: a CLIP
image embedding compared with the text embeddings of a forbidden concept.
"""
from __future__ import annotations

import re
from typing import TYPE_CHECKING

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from course_lib import clip as tiny_clip
from course_lib import text

# The notebook's exercise: its reference lives once, in its exercise file.
from course_lib.exercises.nb10.watermark_score import watermark_score

if TYPE_CHECKING:
    from transformers import BatchFeature

BLOCK = 2           # the pattern is constant on 2x2 pixel blocks (survives mild resizing)
STRENGTH = 4 / 255  # its amplitude, on images in [0, 1]
THRESHOLD = 4.0     # detect when z > 4: P(false alarm) <= exp(-4^2 / 2) = 3e-4 per image


# --- 1. watermark ------------------------------------------------------------------------------
def watermark_signs(key: int, size: int = 32, channels: int = 3) -> torch.Tensor:
    """The secret: random signs +/-1, (channels, size / BLOCK, size / BLOCK), from the key."""
    gen = torch.Generator().manual_seed(key)
    n = size // BLOCK
    return torch.randint(0, 2, (channels, n, n), generator=gen).float() * 2 - 1


def embed_watermark(images: torch.Tensor, signs: torch.Tensor,
                    strength: float = STRENGTH) -> torch.Tensor:
    """images (B, C, H, W) in [0, 1] plus strength * the signs spread over their blocks."""
    pattern = signs.repeat_interleave(BLOCK, -2).repeat_interleave(BLOCK, -1)
    return (images + strength * pattern.to(images)).clamp(0, 1)


def highpass(images: torch.Tensor) -> torch.Tensor:
    """Each pixel minus the mean of its 3x3 neighbourhood: flat regions (most of an image)
    become 0, a +/- pattern mostly stays."""
    return images - F.avg_pool2d(images, 3, stride=1, padding=1, count_include_pad=False)


def detect(images: torch.Tensor, key: int, threshold: float = THRESHOLD) -> torch.Tensor:
    """(B,) bool: does each image carry the watermark of this key?"""
    return watermark_score(images, watermark_signs(key, images.shape[-1])) > threshold


def resized(images: torch.Tensor, size: int) -> torch.Tensor:
    """An attack: shrink to size x size (antialiased) and enlarge back, both bilinear."""
    small = F.interpolate(images, size=size, mode="bilinear", antialias=True)
    return F.interpolate(small, size=images.shape[-1], mode="bilinear").clamp(0, 1)


def noised(images: torch.Tensor, std: float, seed: int = 0) -> torch.Tensor:
    """An attack: Gaussian noise of this std (images in [0, 1])."""
    gen = torch.Generator().manual_seed(seed)
    return (images + std * torch.randn(images.shape, generator=gen)).clamp(0, 1)


def jpeg(images: torch.Tensor, quality: int) -> torch.Tensor:
    """An attack: save each image as a JPEG of this quality (PIL) and read it back."""
    import io

    from PIL import Image

    out = []
    for img in images:
        pixels = (img.clamp(0, 1) * 255).round().byte().permute(1, 2, 0).numpy()
        buffer = io.BytesIO()
        Image.fromarray(pixels).save(buffer, format="JPEG", quality=quality)
        back = np.asarray(Image.open(buffer).convert("RGB"), dtype=np.float32) / 255
        out.append(torch.from_numpy(back).permute(2, 0, 1))
    return torch.stack(out)


# --- 2. content filter -------------------------------------------------------------------------
def blocked_words(prompt: str, words: list[str]) -> list[str]:
    """The blocked words a prompt names, as whole words, in any case."""
    return [w for w in words if re.search(rf"\b{re.escape(w)}\b", prompt, flags=re.I)]


class ToCLIPInput:
    """The pipeline's feature_extractor slot: PIL images -> pixel_values in [-1, 1] at 32x32
    (Stable Diffusion's is a CLIPImageProcessor resizing to 224)."""

    def __call__(self, images, return_tensors: str = "pt") -> BatchFeature:
        x = torch.stack([torch.from_numpy(np.asarray(im.convert("RGB").resize((32, 32)),
                                                     dtype=np.float32)) for im in images])
        from transformers import BatchFeature  # here: importing transformers takes 0.6 s

        return BatchFeature({"pixel_values": x.permute(0, 3, 1, 2) / 127.5 - 1})


class ConceptFilter(nn.Module):
    """The pipeline's safety_checker slot, built like Stable Diffusion's: CLIP embeds each
    image and compares it (cosine similarity) with text embeddings. An image is blanked when
    its best match among captions of the forbidden concept beats its best match among the
    allowed captions by more than `threshold` (0: its nearest caption is a forbidden one)."""

    def __init__(self, clip_model: tiny_clip.TinyCLIP, vocab: dict[str, int],
                 forbidden: list[str], allowed: list[str], threshold: float = 0.0):
        super().__init__()
        self.clip, self.threshold = clip_model.eval(), threshold
        with torch.no_grad():
            for name, captions in (("forbidden", forbidden), ("allowed", allowed)):
                emb = clip_model.encode_text(*text.tokenize_batch(captions, vocab))
                self.register_buffer(name, F.normalize(emb, dim=-1))   # (n, D)

    @property
    def device(self) -> torch.device:  # diffusers asks every pipeline part for these
        return self.forbidden.device

    @property
    def dtype(self) -> torch.dtype:
        return self.forbidden.dtype

    @torch.no_grad()
    def scores(self, clip_input: torch.Tensor) -> torch.Tensor:
        """(B,): best cosine with a forbidden caption minus best with an allowed one, for
        images in [-1, 1]."""
        emb = F.normalize(self.clip.encode_image(clip_input.float()), dim=-1)
        return (emb @ self.forbidden.T).max(1).values - (emb @ self.allowed.T).max(1).values

    @torch.no_grad()
    def forward(self, images: torch.Tensor, clip_input: torch.Tensor):
        flags = self.scores(clip_input) > self.threshold
        blank = torch.zeros_like(images)   # what the pipeline shows: black, as SD's checker
        images = torch.where(flags.to(images.device)[:, None, None, None], blank, images)
        return images, flags.tolist()


def classroom_pipeline(pipe, concept_filter: ConceptFilter):
    """The same pipeline with the filter in its safety_checker slot (what SD 1.5 ships)."""
    from diffusers import StableDiffusionPipeline

    parts = {**pipe.components, "safety_checker": concept_filter,
             "feature_extractor": ToCLIPInput()}
    safe = StableDiffusionPipeline(**{k: v for k, v in parts.items() if k != "image_encoder"},
                                   requires_safety_checker=False)
    safe.set_progress_bar_config(disable=True)
    return safe


def generate_for_class(safe_pipe, prompts: list[str], key: int, blocked: list[str],
                       **kwargs) -> tuple[torch.Tensor | None, list[str]]:
    """The classroom policy as code: 1. refuse prompts that name a blocked word; 2. generate
    the rest (the safety_checker slot blanks images of the forbidden concept); 3. watermark
    every image that is returned. Returns images (B', 3, H, W) in [0, 1] and a note per prompt."""
    notes = [f"refused: names {', '.join(found)}" if (found := blocked_words(p, blocked))
             else "" for p in prompts]
    allowed = [p for p, n in zip(prompts, notes) if not n]
    if not allowed:
        return None, notes
    out = safe_pipe(allowed, output_type="pt", **kwargs)
    flags = iter(out.nsfw_content_detected or [False] * len(allowed))
    notes = [n or ("blanked by the image filter" if next(flags) else "ok") for n in notes]
    images = out.images.float().cpu()
    return embed_watermark(images, watermark_signs(key, images.shape[-1])), notes
