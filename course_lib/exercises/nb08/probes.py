"""Notebook 08's probe: a tiny StableDiffusionPipeline with random weights, and its prompts.

Built from configs (a character-level CLIP tokenizer, a small CLIPTextModel,
UNet2DConditionModel and AutoencoderKL): matching the pipeline exactly does not depend on
trained weights, and it builds in a fraction of a second.
"""
from __future__ import annotations

import copy
import functools
import json
import os
import tempfile

import torch

PROMPTS = ["a small red circle at the top left", "a large blue square in the center"]
# "Equal" means within TOL: the same float32 computation differs by up to ~2e-5 between thread
# counts (the grader runs answers on one thread); real mistakes differ by 1e-2 or more.
TOL = 1e-4


def probe_pipeline_with(scheduler_class: str, **config):
    """probe_pipeline() with another diffusers scheduler on the same noise schedule: Euler
    (where scale_model_input and init_noise_sigma matter) or DPM-Solver++ (multistep)."""
    import diffusers

    p = probe_pipeline()
    p.scheduler = getattr(diffusers, scheduler_class).from_config(p.scheduler.config, **config)
    return p


def probe_pipeline():
    """The tiny random StableDiffusionPipeline every case uses: a fresh copy of one built once,
    so that nothing a check (or an answer) does to it reaches the next check."""
    return copy.deepcopy(_pristine_pipeline())


@functools.lru_cache(maxsize=1)
def _pristine_pipeline():
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from diffusers import (
        AutoencoderKL,
        DDIMScheduler,
        StableDiffusionPipeline,
        UNet2DConditionModel,
    )
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer
    from transformers.convert_slow_tokenizer import bytes_to_unicode

    folder = tempfile.mkdtemp(prefix="course_probe_tokenizer_")
    chars = list(bytes_to_unicode().values())
    vocab = {c: i for i, c in enumerate(chars + [c + "</w>" for c in chars])}
    vocab |= {"<|startoftext|>": len(vocab), "<|endoftext|>": len(vocab) + 1}
    with open(os.path.join(folder, "vocab.json"), "w", encoding="utf-8") as f:
        json.dump(vocab, f)
    with open(os.path.join(folder, "merges.txt"), "w", encoding="utf-8") as f:
        f.write("#version: 0.2\n")
    tokenizer = CLIPTokenizer(os.path.join(folder, "vocab.json"),
                              os.path.join(folder, "merges.txt"), model_max_length=77)
    with torch.random.fork_rng():
        torch.manual_seed(80)
        text_encoder = CLIPTextModel(CLIPTextConfig(
            vocab_size=len(vocab), hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
            intermediate_size=64, max_position_embeddings=77, bos_token_id=tokenizer.bos_token_id,
            eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id))
        unet = UNet2DConditionModel(
            sample_size=8, in_channels=4, out_channels=4, block_out_channels=(32, 64),
            layers_per_block=1, down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
            up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"), cross_attention_dim=32,
            attention_head_dim=8, norm_num_groups=16)
        vae = AutoencoderKL(block_out_channels=(16, 32, 32), latent_channels=4,
                            down_block_types=("DownEncoderBlock2D",) * 3,
                            up_block_types=("UpDecoderBlock2D",) * 3, layers_per_block=1,
                            norm_num_groups=16, sample_size=32)
    scheduler = DDIMScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                              clip_sample=False, set_alpha_to_one=False, steps_offset=1)
    pipe = StableDiffusionPipeline(vae=vae, text_encoder=text_encoder, tokenizer=tokenizer,
                                   unet=unet, scheduler=scheduler, safety_checker=None,
                                   feature_extractor=None, requires_safety_checker=False)
    pipe.set_progress_bar_config(disable=True)
    return pipe
