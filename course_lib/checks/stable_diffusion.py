"""Checks for notebook 08 (Stable Diffusion by hand): encode the prompt, one guided step, the
whole loop, decoding; each compared with StableDiffusionPipeline itself.

The probe is a tiny pipeline with random weights built here from configs (a character-level
CLIP tokenizer, a small CLIPTextModel, UNet2DConditionModel and AutoencoderKL): matching the
pipeline exactly does not depend on trained weights, and it builds in a fraction of a second.
"""
from __future__ import annotations

import functools
import json
import os
import tempfile

import torch

from course_lib import sd_loop
from course_lib.checking import Case, Exercise, Prop, close

NB = "08_stable_diffusion"
PROMPTS = ["a small red circle at the top left", "a large blue square in the center"]
# "Equal" means within TOL: the same float32 computation differs by up to ~2e-5 between thread
# counts (the grader runs answers on one thread); real mistakes differ by 1e-2 or more.
TOL = 1e-4


@functools.lru_cache(maxsize=1)
def probe_pipeline():
    """The tiny random StableDiffusionPipeline every case uses (cached; cases deep-copy it)."""
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


# ------------------------------------------------------------------- encode_prompt

def _enc_cases():
    p = probe_pipeline()
    long = " ".join(["red"] * 100)
    return {"two": Case((p.tokenizer, p.text_encoder, PROMPTS, ["", "green"])),
            "long": Case((p.tokenizer, p.text_encoder, [long], [""]))}


def _enc_pipeline(outs, refs):
    p = probe_pipeline()
    pos, neg = p.encode_prompt(PROMPTS, "cpu", 1, True, ["", "green"])
    diff = (outs["two"].value - torch.cat([neg, pos])).abs().max().item()
    return diff < TOL, (f"max |yours - pipe.encode_prompt's [negative, prompt]| = {diff:.1e} "
                        f"(allowed {TOL:.0e})")


def _enc_order(outs, refs):
    p = probe_pipeline()
    _, neg = p.encode_prompt(PROMPTS, "cpu", 1, True, ["", "green"])
    diff = (outs["two"].value[:2] - neg).abs().max().item()
    return diff < TOL, f"first half vs the negative prompts' embeddings: max diff {diff:.1e}"


# ------------------------------------------------------------------- guided_step

def _step_cases():
    p = probe_pipeline()
    embeds = sd_loop.encode_prompt(p.tokenizer, p.text_encoder, PROMPTS, ["", ""])
    p.scheduler.set_timesteps(10)
    t = p.scheduler.timesteps[3]
    latents = torch.randn(2, 4, 8, 8, generator=torch.Generator().manual_seed(81))
    return {"w5": Case((p.unet, p.scheduler, latents, t, embeds, 5.0)),
            "w1": Case((p.unet, p.scheduler, latents, t, embeds, 1.0))}


def _step_w1(outs, refs):
    unet, scheduler, latents, t, embeds, _ = _step_cases()["w1"].args
    with torch.no_grad():
        x_in = scheduler.scale_model_input(latents, t)
        eps = unet(x_in, t, encoder_hidden_states=embeds[2:]).sample
        want = scheduler.step(eps, t, latents).prev_sample
    diff = (outs["w1"].value - want).abs().max().item()
    return diff < TOL, f"w = 1 vs a step with the prompt alone: max diff {diff:.1e}"


# ------------------------------------------------------------------- generate_latents

def _gen_cases():
    p = probe_pipeline()
    args = (p, PROMPTS, ["", "green"], 6, 4.0)
    return {"seed3": Case(args + (torch.Generator().manual_seed(3),)),
            "seed3_again": Case(args + (torch.Generator().manual_seed(3),)),
            "no_negative": Case((p, PROMPTS, None, 6, 4.0, torch.Generator().manual_seed(3)))}


def _gen_pipeline(outs, refs):
    p = probe_pipeline()
    worst = 0.0
    for name, neg in (("seed3", ["", "green"]), ("no_negative", None)):
        want = p(PROMPTS, negative_prompt=neg, num_inference_steps=6, guidance_scale=4.0,
                 generator=torch.Generator().manual_seed(3), output_type="latent").images
        worst = max(worst, (outs[name].value - want).abs().max().item())
    return worst < TOL, (f"max |your latents - StableDiffusionPipeline(output_type='latent')| "
                         f"= {worst:.1e}, allowed {TOL:.0e} (same seed, scheduler, 6 steps, w = 4)")


def _gen_seed(outs, refs):
    same = torch.equal(outs["seed3"].value, outs["seed3_again"].value)
    return same, "the same seed gives the same latents" if same else "same seed, new latents"


# ------------------------------------------------------------------- decode

def _dec_cases():
    p = probe_pipeline()
    z = torch.randn(2, 4, 8, 8, generator=torch.Generator().manual_seed(82))
    return {"z": Case((p.vae, z))}


def _dec_pipeline(outs, refs):
    p = probe_pipeline()
    z = _dec_cases()["z"].args[1]
    with torch.no_grad():
        raw = p.vae.decode(z / p.vae.config.scaling_factor).sample
    want = p.image_processor.postprocess(raw, output_type="pt")
    diff = (outs["z"].value - want).abs().max().item()
    return diff < TOL, (f"max |yours - the pipeline's decode + postprocess| = {diff:.1e} "
                        f"(allowed {TOL:.0e})")


def _dec_range(outs, refs):
    x = outs["z"].value
    return bool(x.min() >= 0 and x.max() <= 1), f"range [{x.min():.2f}, {x.max():.2f}]"


EXERCISES = [
    Exercise(
        id="encode_prompt", notebook=NB, points=2, reference=sd_loop.encode_prompt,
        cases=_enc_cases, summary="prompt and negative prompt -> text embeddings",
        props=[
            Prop("negative prompts come first", _enc_order,
                 "torch.cat([embed(negative_prompts), embed(prompts)]): the pipeline splits "
                 "the U-Net's output as (uncond, text) in that order"),
            Prop("equals StableDiffusionPipeline.encode_prompt", _enc_pipeline,
                 "tokenizer(texts, padding='max_length', max_length=tokenizer.model_max_length, "
                 "truncation=True, return_tensors='pt').input_ids; text_encoder(ids)[0] is the "
                 "last hidden state"),
            Prop("a 100-word prompt is cut to 77 tokens", close("long"),
                 "truncation=True: CLIP reads at most 77 tokens"),
        ],
    ),
    Exercise(
        id="guided_step", notebook=NB, points=2, reference=sd_loop.guided_step,
        cases=_step_cases, summary="one guided denoising step",
        props=[
            Prop("w = 1 is a step with the prompt alone", _step_w1,
                 "eps = eps_u + w * (eps_c - eps_u), the chunk order (uncond, text)"),
            Prop("matches the reference at w = 5", close("w5"),
                 "scheduler.scale_model_input(torch.cat([latents] * 2), t) before the U-Net; "
                 "unet(x, t, encoder_hidden_states=embeds).sample; scheduler.step(eps, t, "
                 "latents).prev_sample"),
        ],
    ),
    Exercise(
        id="generate_latents", notebook=NB, points=3, reference=sd_loop.generate_latents,
        cases=_gen_cases, summary="the whole loop, in the pipeline's phases",
        props=[
            Prop("the same seed gives the same latents", _gen_seed,
                 "draw the initial noise from the generator you are given"),
            Prop("equals StableDiffusionPipeline on the same seed", _gen_pipeline,
                 "phases: encode ('' when no negative prompt); scheduler.set_timesteps(steps); "
                 "latents = torch.randn(shape, generator=generator) * "
                 "scheduler.init_noise_sigma; loop guided_step over scheduler.timesteps"),
        ],
    ),
    Exercise(
        id="decode", notebook=NB, points=1, reference=sd_loop.decode, cases=_dec_cases,
        summary="latents -> images in [0, 1]",
        props=[
            Prop("images lie in [0, 1]", _dec_range, "map [-1, 1] to [0, 1]: x / 2 + 0.5, clamp"),
            Prop("equals the pipeline's decoding", _dec_pipeline,
                 "divide by vae.config.scaling_factor before vae.decode(...).sample"),
        ],
    ),
]
