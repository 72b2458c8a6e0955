"""Notebook 08's probe: a tiny StableDiffusionPipeline with random weights, and its prompts.

Built from configs (a character-level CLIP tokenizer, a small CLIPTextModel,
UNet2DConditionModel and AutoencoderKL): matching the pipeline exactly does not depend on
trained weights, and it builds in a fraction of a second. Its weights and the probes' prompts
come from the probe draw (exercises/common.py): the notebook's in a notebook, fresh ones
under the class grader's draw.
"""
from __future__ import annotations

import copy
import functools
import json
import os
import tempfile

import torch

from course_lib.exercises.common import draw, gen, seeded

PROMPTS = ["a small red circle at the top left", "a large blue square in the center"]
# "Equal" means within TOL: the same float32 computation differs by up to ~2e-5 between thread
# counts (the grader runs answers on one thread); real mistakes differ by 1e-2 or more.
TOL = 1e-4
# What probes may say instead of a prompt: none of the notebook's own prompts (a loop that
# reads a notebook global instead of its argument must not pass by luck).
_NOTEBOOK_PROMPTS = {"a large red circle in the center", "a small blue square at the top left",
                     "a large yellow triangle at the bottom right",
                     "a large blue triangle in the center", "a large circle in the center"}
NEGATIVE_WORDS = ["green", "red", "blue", "yellow", "a square", "a small triangle", "blurry",
                  "at the top right", "a large circle"]


def worst_case(outs, want: dict[str, torch.Tensor], part=lambda value: value) -> tuple[float, str]:
    """The largest max |yours - want| over the cases want names, and that case's name: the
    detail of a comparison with the pipeline (`part` picks what to compare from an answer's
    result). A wrong shape or a NaN counts as the farthest."""
    worst, where = 0.0, ""
    for name, w in want.items():
        got = part(outs[name].value)
        diff = (float("inf") if got.shape != w.shape
                else (got.double() - w.double()).abs().max().item())
        if not diff < worst:
            worst, where = diff, name
    return worst, where


@functools.lru_cache(maxsize=1)
def _captions() -> tuple[str, ...]:
    from course_lib import shapes

    return tuple(c for c in (a.caption for a in shapes.all_attributes())
                 if c not in _NOTEBOOK_PROMPTS)


def probe_prompts(n: int, k: int, notebook: list | None = None) -> list[str]:
    """k different prompts for probe n: `notebook` in the notebook's draw when given, else
    captions of the course's data set chosen by gen(n)."""
    if notebook is not None and draw() == 0:
        return list(notebook)
    order = torch.randperm(len(_captions()), generator=gen(n))[:k]
    return [_captions()[i] for i in order]


def probe_negatives(n: int, k: int, notebook: list | None = None) -> list[str]:
    """k negative prompts for probe n, the first one empty and the others different words:
    `notebook` in the notebook's draw when given."""
    if notebook is not None and draw() == 0:
        return list(notebook)
    order = torch.randperm(len(NEGATIVE_WORDS), generator=gen(n))[:k - 1]
    return [""] + [NEGATIVE_WORDS[i] for i in order]


def probe_pipeline_with(scheduler_class: str, **config):
    """probe_pipeline() with another diffusers scheduler on the same noise schedule: Euler
    (where scale_model_input and init_noise_sigma matter) or DPM-Solver++ (multistep)."""
    import diffusers

    p = probe_pipeline()
    p.scheduler = getattr(diffusers, scheduler_class).from_config(p.scheduler.config, **config)
    return p


def probe_pipeline():
    """The tiny random StableDiffusionPipeline every case uses: a fresh copy of one built once
    per draw, so that nothing a check (or an answer) does to it reaches the next check."""
    return copy.deepcopy(_pristine_pipeline(draw()))


def probe_text():
    """(tokenizer, text_encoder) of probe_pipeline(), copied without the rest (faster)."""
    p = _pristine_pipeline(draw())
    return copy.deepcopy((p.tokenizer, p.text_encoder))


def probe_vae():
    """The VAE of probe_pipeline(), copied without the rest (faster)."""
    return copy.deepcopy(_pristine_pipeline(draw()).vae)


@functools.lru_cache(maxsize=1)
def _tokenizer():
    from transformers import CLIPTokenizer
    from transformers.convert_slow_tokenizer import bytes_to_unicode

    folder = tempfile.mkdtemp(prefix="course_probe_tokenizer_")
    chars = list(bytes_to_unicode().values())
    vocab = {c: i for i, c in enumerate(chars + [c + "</w>" for c in chars])}
    vocab |= {"<|startoftext|>": len(vocab), "<|endoftext|>": len(vocab) + 1}
    with open(os.path.join(folder, "vocab.json"), "w", encoding="utf-8") as f:
        json.dump(vocab, f)
    with open(os.path.join(folder, "merges.txt"), "w", encoding="utf-8") as f:
        f.write("#version: 0.2\n")
    return CLIPTokenizer(os.path.join(folder, "vocab.json"), os.path.join(folder, "merges.txt"),
                         model_max_length=77)


def tiny_unet(**extra):
    """The probe pipelines' tiny U-Net on 8x8x4 latents (extra: its text and added inputs)."""
    from diffusers import UNet2DConditionModel

    return UNet2DConditionModel(
        sample_size=8, in_channels=4, out_channels=4, block_out_channels=(32, 64),
        layers_per_block=1, down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"), attention_head_dim=8,
        norm_num_groups=16, **extra)


def tiny_vae():
    """The probe pipelines' tiny VAE: 32x32 images to 8x8x4 latents."""
    from diffusers import AutoencoderKL

    return AutoencoderKL(block_out_channels=(16, 32, 32), latent_channels=4,
                         down_block_types=("DownEncoderBlock2D",) * 3,
                         up_block_types=("UpDecoderBlock2D",) * 3, layers_per_block=1,
                         norm_num_groups=16, sample_size=32)


@functools.lru_cache(maxsize=4)
def _pristine_pipeline(probe_draw: int):
    """The pipeline of this draw (weights seeded by probe 80 of it), built once."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from diffusers import DDIMScheduler, StableDiffusionPipeline
    from transformers import CLIPTextConfig, CLIPTextModel

    assert probe_draw == draw()
    tokenizer = copy.deepcopy(_tokenizer())
    vocab_size = len(tokenizer.get_vocab())
    with seeded(80):
        text_encoder = CLIPTextModel(CLIPTextConfig(
            vocab_size=vocab_size, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
            intermediate_size=64, max_position_embeddings=77, bos_token_id=tokenizer.bos_token_id,
            eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id))
        unet, vae = tiny_unet(cross_attention_dim=32), tiny_vae()
    scheduler = DDIMScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                              clip_sample=False, set_alpha_to_one=False, steps_offset=1)
    pipe = StableDiffusionPipeline(vae=vae, text_encoder=text_encoder, tokenizer=tokenizer,
                                   unet=unet, scheduler=scheduler, safety_checker=None,
                                   feature_extractor=None, requires_safety_checker=False)
    pipe.set_progress_bar_config(disable=True)
    for module in (unet, text_encoder, vae):  # as from_pretrained leaves them
        module.eval()
    return pipe
