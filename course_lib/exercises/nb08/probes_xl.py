"""Notebook 08's SDXL probe: a tiny StableDiffusionXLPipeline with random weights, and the
texts sdxl_encode_prompt is probed on with the pipeline's own embeddings of them.

Built from configs like probes.py's SD 1.x probe, with SDXL's parts: two text encoders of
different widths (32 and 48 features; the second with a 24-feature projection, so a pooled
embedding from the wrong place has the wrong size or the wrong numbers), the second tokenizer
padding with "!" as SDXL's does, and a U-Net whose "text_time" embedding reads the pooled
text and six micro-conditioning numbers. Weights come from the probe draw (exercises/common.py).
"""
from __future__ import annotations

import copy
import functools
import os

import torch

from course_lib.exercises.common import draw, seeded
from course_lib.exercises.nb08.probes import (
    PROMPTS,
    _tokenizer,
    probe_negatives,
    probe_prompts,
    tiny_unet,
    tiny_vae,
)

D1, D2, POOLED, TIME_DIM = 32, 48, 24, 8  # encoder widths, projection, features per time id


def probe_xl_pipeline():
    """The tiny random StableDiffusionXLPipeline every SDXL case uses: a fresh copy of the one
    built once per draw, so nothing a check (or an answer) does to it reaches the next."""
    return copy.deepcopy(_pristine_xl(draw()))


def probe_xl_text():
    """((tokenizer, tokenizer_2), (text_encoder, text_encoder_2)) of probe_xl_pipeline(),
    copied without the rest (faster)."""
    p = _pristine_xl(draw())
    return copy.deepcopy(((p.tokenizer, p.tokenizer_2), (p.text_encoder, p.text_encoder_2)))


def _text_config(tokenizer, **sizes):
    from transformers import CLIPTextConfig

    return CLIPTextConfig(vocab_size=len(tokenizer.get_vocab()), max_position_embeddings=77,
                          bos_token_id=tokenizer.bos_token_id,
                          eos_token_id=tokenizer.eos_token_id,
                          pad_token_id=tokenizer.pad_token_id, **sizes)


@functools.lru_cache(maxsize=4)
def _pristine_xl(probe_draw: int):
    """The SDXL pipeline of this draw (weights seeded by probe 130 of it), built once."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from diffusers import EulerDiscreteScheduler, StableDiffusionXLPipeline
    from transformers import CLIPTextModel, CLIPTextModelWithProjection

    assert probe_draw == draw()
    base = _tokenizer()
    tokenizer = copy.deepcopy(base)
    tokenizer_2 = copy.deepcopy(base)
    tokenizer_2.pad_token = "!"                         # SDXL's second tokenizer pads with "!"
    with seeded(130):
        text_encoder = CLIPTextModel(_text_config(
            tokenizer, hidden_size=D1, num_hidden_layers=2, num_attention_heads=2,
            intermediate_size=64))
        text_encoder_2 = CLIPTextModelWithProjection(_text_config(
            tokenizer_2, hidden_size=D2, num_hidden_layers=3, num_attention_heads=2,
            intermediate_size=96, projection_dim=POOLED))
        unet = tiny_unet(cross_attention_dim=D1 + D2, addition_embed_type="text_time",
                          addition_time_embed_dim=TIME_DIM,
                          projection_class_embeddings_input_dim=6 * TIME_DIM + POOLED)
        vae = tiny_vae()
    scheduler = EulerDiscreteScheduler(beta_start=0.00085, beta_end=0.012,
                                       beta_schedule="scaled_linear", steps_offset=1,
                                       timestep_spacing="leading")   # SDXL's own scheduler
    pipe = StableDiffusionXLPipeline(vae=vae, text_encoder=text_encoder,
                                     text_encoder_2=text_encoder_2, tokenizer=tokenizer,
                                     tokenizer_2=tokenizer_2, unet=unet, scheduler=scheduler,
                                     force_zeros_for_empty_prompt=True, add_watermarker=False)
    pipe.set_progress_bar_config(disable=True)
    for module in (unet, text_encoder, text_encoder_2, vae):  # as from_pretrained leaves them
        module.eval()
    return pipe


def xl_texts() -> dict[str, tuple[list, list | None]]:
    """sdxl_encode_prompt's (prompts, negative prompts) of each case: two prompts with
    negative prompts, the same without (zeros), one prompt with a non-empty negative, and an
    odd batch of three."""
    return {"two": (probe_prompts(131, 2, PROMPTS), probe_negatives(132, 2, ["", "green"])),
            "no_negative": (probe_prompts(133, 2, PROMPTS[::-1]), None),
            "one": (probe_prompts(134, 1), probe_negatives(135, 2)[1:]),
            "three": (probe_prompts(136, 3), probe_negatives(137, 3))}


@functools.lru_cache(maxsize=4)
def xl_pipeline_embeds(probe_draw: int) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """(embeds, pooled) from StableDiffusionXLPipeline.encode_prompt per case, each
    [negative, prompt] along the batch."""
    p, out = probe_xl_pipeline(), {}
    for name, (pos, neg) in xl_texts().items():
        e, ne, pooled, npooled = p.encode_prompt(pos, device="cpu", negative_prompt=neg)
        out[name] = torch.cat([ne, e]), torch.cat([npooled, pooled])
    return out
