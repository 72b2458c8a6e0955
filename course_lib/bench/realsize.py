"""SD 1.5 and SDXL at their real size with random weights: the hand loops against diffusers.

    python -m course_lib.bench.realsize [--model sd15|sdxl|both] [--scale full|tiny]
        [--device cpu|cuda] [--dtype float32|float16] [--steps 2]

The architectures are the config values published with stable-diffusion-v1-5 and
stable-diffusion-xl-base-1.0, written out below (nothing is downloaded). `build()` makes a
diffusers pipeline of them with seeded random weights and the course's CLIP tokenizer;
`compare()` runs the course's hand loop (notebook 08; SDXL's differences in `sdxl_latents`)
against the pipeline on one seed. "tiny" keeps every block type at small widths and depths, so
the same code runs in seconds on a CPU; full size needs a GPU (SDXL's U-Net: 2.6 G parameters).
"""
from __future__ import annotations

import argparse
import resource
import time

import diffusers
import torch
import transformers

from course_lib import sd_loop, sd_weights

PROMPTS = ["a large red circle in the center"]
SD15_UNET = dict(sample_size=64, in_channels=4, out_channels=4, layers_per_block=2,
                 block_out_channels=(320, 640, 1280, 1280), cross_attention_dim=768,
                 attention_head_dim=8,  # the number of heads (a diffusers misnomer)
                 down_block_types=("CrossAttnDownBlock2D",) * 3 + ("DownBlock2D",),
                 up_block_types=("UpBlock2D",) + ("CrossAttnUpBlock2D",) * 3)
SDXL_UNET = dict(sample_size=128, in_channels=4, out_channels=4, layers_per_block=2,
                 block_out_channels=(320, 640, 1280), transformer_layers_per_block=(1, 2, 10),
                 attention_head_dim=(5, 10, 20), cross_attention_dim=2048,
                 use_linear_projection=True, addition_embed_type="text_time",
                 addition_time_embed_dim=256, projection_class_embeddings_input_dim=2816,
                 down_block_types=("DownBlock2D",) + ("CrossAttnDownBlock2D",) * 2,
                 up_block_types=("CrossAttnUpBlock2D",) * 2 + ("UpBlock2D",))
SD15_VAE = dict(sample_size=512, in_channels=3, out_channels=3, latent_channels=4,
                layers_per_block=2, block_out_channels=(128, 256, 512, 512),
                down_block_types=("DownEncoderBlock2D",) * 4,
                up_block_types=("UpDecoderBlock2D",) * 4, scaling_factor=0.18215)
SDXL_VAE = {**SD15_VAE, "sample_size": 1024, "scaling_factor": 0.13025}
CLIP_L = dict(hidden_size=768, num_hidden_layers=12, num_attention_heads=12,
              intermediate_size=3072, max_position_embeddings=77, vocab_size=49408,
              hidden_act="quick_gelu", projection_dim=768)
CLIP_BIGG = dict(hidden_size=1280, num_hidden_layers=32, num_attention_heads=20,
                 intermediate_size=5120, max_position_embeddings=77, vocab_size=49408,
                 hidden_act="gelu", projection_dim=1280)
# SD 1.5 ships a PNDMScheduler config whose missing timestep_spacing means PNDM's "leading";
# EulerDiscreteScheduler.from_config of it, and SDXL's own Euler config, both say "leading".
SCHEDULER = dict(num_train_timesteps=1000, beta_start=0.00085, beta_end=0.012,
                 beta_schedule="scaled_linear", steps_offset=1, timestep_spacing="leading",
                 prediction_type="epsilon", interpolation_type="linear")
FULL = {"sd15": {"unet": SD15_UNET, "vae": SD15_VAE, "text_encoder": CLIP_L},
        "sdxl": {"unet": SDXL_UNET, "vae": SDXL_VAE, "text_encoder": CLIP_L,
                 "text_encoder_2": CLIP_BIGG}}
# tiny: every block type kept, narrow and shallow (vocab_size=None: the course tokenizer's)
_TEXT = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
             projection_dim=32, vocab_size=None)
_VAE = dict(sample_size=64, layers_per_block=1, block_out_channels=(32,) * 4)
TINY = {"sd15": {"unet": dict(sample_size=8, layers_per_block=1, cross_attention_dim=32,
                              block_out_channels=(32, 64, 64, 64)),
                 "vae": _VAE, "text_encoder": _TEXT},
        "sdxl": {"unet": dict(sample_size=8, layers_per_block=1, cross_attention_dim=32 + 32,
                              block_out_channels=(32, 64, 64), attention_head_dim=(2, 4, 8),
                              transformer_layers_per_block=(1, 1, 2), addition_time_embed_dim=8,
                              projection_class_embeddings_input_dim=6 * 8 + 32),
                 "vae": _VAE, "text_encoder": _TEXT, "text_encoder_2": _TEXT}}


def configs(name: str, scale: str = "full") -> dict[str, dict]:
    """{component: constructor arguments} for "sd15" or "sdxl" at "full" or "tiny" scale."""
    small = TINY[name] if scale == "tiny" else {}
    return {part: {**cfg, **small.get(part, {})} for part, cfg in FULL[name].items()}


def components(name: str, scale: str = "full", tok=None) -> dict:
    """The pipeline's parts, built on torch's current default device (use `meta` to count), with
    the course's CLIP BPE tokenizer (data/sd_course/tokenizer, 77 tokens) unless given one."""
    tok = tok or transformers.CLIPTokenizer.from_pretrained(sd_weights.COURSE_MODEL / "tokenizer")
    cfg = configs(name, scale)
    ids = dict(bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id,
               pad_token_id=tok.pad_token_id)  # the token ids are the tokenizer's
    with torch.device("cpu"):  # the scheduler's tables live on the CPU, as diffusers keeps them
        scheduler = diffusers.EulerDiscreteScheduler(**SCHEDULER)
    parts = {"unet": diffusers.UNet2DConditionModel(**cfg["unet"]), "tokenizer": tok,
             "vae": diffusers.AutoencoderKL(**cfg["vae"]), "scheduler": scheduler}
    for key, cls in (("text_encoder", "CLIPTextModel"),
                     ("text_encoder_2", "CLIPTextModelWithProjection")):
        if key in cfg:
            text = {**cfg[key], **ids, "vocab_size": cfg[key]["vocab_size"] or len(tok)}
            parts[key] = getattr(transformers, cls)(transformers.CLIPTextConfig(**text))
    if name == "sdxl":  # SDXL pipelines hold the same tokenizer twice here
        parts.update(tokenizer_2=tok, add_watermarker=False)
    else:
        parts.update(safety_checker=None, feature_extractor=None, requires_safety_checker=False)
    return parts


def build(name: str, scale: str = "full", dtype=torch.float32, device="cpu", seed: int = 0):
    """A StableDiffusionPipeline ("sd15") or StableDiffusionXLPipeline ("sdxl") with random
    weights drawn from `seed` directly on `device`, then cast to `dtype`."""
    device = torch.device(device)
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(seed)
        with device:
            parts = components(name, scale)
    for part in parts.values():  # nn.Module.to: diffusers' own .to(dtype) warns needlessly
        if isinstance(part, torch.nn.Module):
            torch.nn.Module.to(part, dtype=dtype)
    cls = "StableDiffusionXLPipeline" if name == "sdxl" else "StableDiffusionPipeline"
    pipe = getattr(diffusers, cls)(**parts)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def param_counts(pipe_or_parts) -> dict[str, float]:
    """Millions of parameters per model component."""
    parts = getattr(pipe_or_parts, "components", pipe_or_parts)
    return {k: sum(p.numel() for p in m.parameters()) / 1e6 for k, m in parts.items()
            if isinstance(m, torch.nn.Module)}


@torch.no_grad()
def sdxl_latents(pipe, prompts: list[str], steps: int = 25, w: float = 7.5,
                 generator=None) -> torch.Tensor:
    """SDXL's loop by hand (empty negative prompt). What differs from SD 1.5: two text
    encoders' penultimate layers side by side, the pooled projection of the second, the
    image-size "time ids", and zeros as the unconditional embedding."""
    dev = pipe.unet.device
    hidden = []
    for tok, enc in ((pipe.tokenizer, pipe.text_encoder), (pipe.tokenizer_2, pipe.text_encoder_2)):
        ids = tok(prompts, padding="max_length", max_length=tok.model_max_length,
                  truncation=True, return_tensors="pt").input_ids.to(dev)
        out = enc(ids, output_hidden_states=True)
        hidden.append(out.hidden_states[-2])
    text = torch.cat(hidden, dim=-1)                              # (B, 77, 768 + 1280)
    embeds = torch.cat([torch.zeros_like(text), text])            # force_zeros_for_empty_prompt
    pooled = torch.cat([torch.zeros_like(out.text_embeds), out.text_embeds])  # (2B, 1280)
    size = pipe.unet.config.sample_size * pipe.vae_scale_factor
    time_ids = torch.tensor([[size, size, 0, 0, size, size]],     # original, crop, target
                            dtype=text.dtype, device=dev).repeat(len(embeds), 1)
    cond = {"text_embeds": pooled, "time_ids": time_ids}
    pipe.scheduler.set_timesteps(steps, device=dev)
    shape = (len(prompts), pipe.unet.config.in_channels) + (pipe.unet.config.sample_size,) * 2
    latents = torch.randn(shape, generator=generator, dtype=text.dtype).to(dev)
    latents = latents * pipe.scheduler.init_noise_sigma
    for t in pipe.scheduler.timesteps:
        x_in = pipe.scheduler.scale_model_input(torch.cat([latents] * 2), t)
        eps_u, eps_c = pipe.unet(x_in, t, encoder_hidden_states=embeds,
                                 added_cond_kwargs=cond).sample.chunk(2)
        latents = pipe.scheduler.step(eps_u + w * (eps_c - eps_u), t, latents).prev_sample
    return latents


# SD 1.5: notebook 08's own loop, unchanged
HAND_LOOPS = {"sd15": sd_loop.generate_latents, "sdxl": sdxl_latents}


def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _timed_steps(pipe, loop, steps, w, seed, device):
    """Run a hand loop; seconds of each denoising step, clocked at each U-Net call."""
    marks = []

    def mark(*_):  # a pre-hook: returns None, so the U-Net's inputs stay as they are
        _sync(device)
        marks.append(time.perf_counter())

    hook = pipe.unet.register_forward_pre_hook(mark)
    try:
        latents = loop(pipe, PROMPTS, steps=steps, w=w,
                       generator=torch.Generator().manual_seed(seed))
        _sync(device)
        marks.append(time.perf_counter())
    finally:
        hook.remove()
    return latents, [b - a for a, b in zip(marks, marks[1:])]


def compare(name: str, scale: str = "full", dtype=torch.float16, device="cuda", steps: int = 2,
            guidance: float = 7.5, seed: int = 0, pipe=None) -> dict:
    """Hand loop vs pipeline on one seed (after one untimed warm-up step): one table row."""
    device = torch.device(device)
    pipe = pipe or build(name, scale, dtype, device, seed)
    loop = HAND_LOOPS[name]
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    loop(pipe, PROMPTS, steps=1, w=guidance, generator=torch.Generator().manual_seed(seed))
    ours, step_s = _timed_steps(pipe, loop, steps, guidance, seed, device)
    theirs = pipe(PROMPTS, num_inference_steps=steps, guidance_scale=guidance,
                  generator=torch.Generator().manual_seed(seed), output_type="latent").images
    start = time.perf_counter()
    sd_loop.decode(pipe.vae, ours)
    _sync(device)
    decode_s = time.perf_counter() - start
    peak = (torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else
            resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20)  # max RSS: KiB on Linux
    counts = param_counts(pipe)
    size = pipe.unet.config.sample_size * pipe.vae_scale_factor
    processor = type(next(iter(pipe.unet.attn_processors.values()))).__name__
    return {"model": name, "scale": scale, "resolution": f"{size}x{size}",
            "dtype": str(dtype).removeprefix("torch."), "device": device.type,
            "attention": processor, "unet_M": counts["unet"], "vae_M": counts["vae"],
            "text_M": "+".join(f"{counts[k]:.4g}" for k in ("text_encoder", "text_encoder_2")
                               if k in counts),
            "s_per_step": sum(step_s) / len(step_s), "peak_GiB": peak,
            "max_diff": (ours.float() - theirs.float()).abs().max().item(),
            "finite": bool(torch.isfinite(ours).all()), "decode_s": decode_s}


def format_table(rows: list[dict]) -> str:
    """Rows of dicts as one aligned text table (columns: every key, in first-seen order)."""
    cols = list(dict.fromkeys(k for row in rows for k in row))

    def cell(v):  # floats: exact zeros as 0, small and huge ones in e-notation
        if isinstance(v, float):
            return "0" if v == 0 else f"{v:.1e}" if not 1e-2 <= abs(v) < 1e5 else f"{v:.3f}"
        return "" if v is None else str(v)

    table = [cols] + [[cell(row.get(c)) for c in cols] for row in rows]
    widths = [max(len(r[i]) for r in table) for i in range(len(cols))]
    lines = ["  ".join(v.ljust(wd) for v, wd in zip(r, widths)).rstrip() for r in table]
    return "\n".join(lines[:1] + ["-" * len(lines[0])] + lines[1:])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=["sd15", "sdxl", "both"], default="both")
    parser.add_argument("--scale", choices=["full", "tiny"], default="full")
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cuda")
    parser.add_argument("--dtype", choices=["float32", "float16"], default="float16")
    parser.add_argument("--steps", type=int, default=2)
    args = parser.parse_args(argv)
    rows = []
    for name in (["sd15", "sdxl"] if args.model == "both" else [args.model]):
        print(f"building {name} ({args.scale}) on {args.device} ...", flush=True)
        rows.append(compare(name, args.scale, getattr(torch, args.dtype), args.device,
                            steps=args.steps))
    print(format_table(rows))
    print("attention: diffusers' default; AttnProcessor2_0 is torch's SDPA (fused attention)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
