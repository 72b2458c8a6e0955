"""The course's SDXL-shaped model: data/sd_course grown into a StableDiffusionXLPipeline.

Used in notebook 08 (SDXL by hand, course_lib/sdxl_loop.py). SDXL was not trained here from
scratch: sd_course's VAE, scheduler, tokenizer and text encoder are kept, a second, seeded
CLIPTextModelWithProjection joins them, and its U-Net is sd_course's with wider cross-attention
(the new key/value columns zero) and a "text_time" embedding whose last layer is zero, so at
first neither the second encoder, nor the pooled embedding, nor the micro-conditioning changes
anything. A short fine-tune on the shapes, shown at SDXL's original sizes and crops in
miniature, makes them matter. `python -m course_lib.train sdxl_course` writes data/sdxl_course/.
"""
from __future__ import annotations

import json
from pathlib import Path

import torch
import torch.nn.functional as F
from diffusers import StableDiffusionXLPipeline, UNet2DConditionModel
from transformers import CLIPTextConfig, CLIPTextModelWithProjection

from course_lib import sd_model, shapes
from course_lib.bridge import training_pair
from course_lib.fit import fit
from course_lib.sd_model import encode_latents
from course_lib.sdxl_loop import add_time_ids, embed_xl

FOLDER = "sdxl_course"   # data/sdxl_course/, made by `python -m course_lib.train sdxl_course`
SOURCE = "sd_course"     # the SD 1.x-shaped course model it starts from
TEXT_2 = {"hidden_size": 96, "intermediate_size": 192, "num_hidden_layers": 2,
          "num_attention_heads": 4, "projection_dim": 32}      # SDXL's: 1280, 5120, 32, 20, 1280
TIME_DIM = 16            # features per micro-conditioning number (SDXL: 256)
CONFIG = {"n_images": 20_000, "steps": 1000, "batch_size": 32, "lr": 1e-3, "p_empty": 0.1,
          "p_drop_each": 0.3, "sizes": (8, 16, 32), "p_crop": 0.5, "zoom": 48, "seed": 0}


# --- 1. the converted model: new parts are no-ops at first --------------------------------------
def build_text_encoder_2(tokenizer, seed: int = 0) -> CLIPTextModelWithProjection:
    """A seeded two-layer CLIP text transformer with a projection (SDXL's is OpenCLIP bigG)."""
    torch.manual_seed(seed)
    return CLIPTextModelWithProjection(CLIPTextConfig(
        vocab_size=len(tokenizer), max_position_embeddings=tokenizer.model_max_length,
        pad_token_id=tokenizer.pad_token_id, bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id, **TEXT_2)).eval()


def widen_unet(unet, text_dim_2: int, pooled_dim: int, seed: int = 0) -> UNet2DConditionModel:
    """sd_course's U-Net, SDXL-shaped: cross-attention reads D1 + D2 features (the key and value
    weights of the last D2 are zero) and an added "text_time" embedding of the pooled text and
    the six time ids is summed into the timestep embedding (its last layer zero)."""
    d1 = unet.config.cross_attention_dim
    config = {k: v for k, v in unet.config.items() if not k.startswith("_")}
    config.update(cross_attention_dim=d1 + text_dim_2, addition_embed_type="text_time",
                  addition_time_embed_dim=TIME_DIM,
                  projection_class_embeddings_input_dim=6 * TIME_DIM + pooled_dim)
    torch.manual_seed(seed)
    wide = UNet2DConditionModel.from_config(config)
    old, new = unet.state_dict(), wide.state_dict()
    for name, w in new.items():
        if name.startswith("add_embedding.linear_2"):
            w.zero_()
        elif name.endswith(("attn2.to_k.weight", "attn2.to_v.weight")):
            w.zero_()
            w[:, :d1] = old[name]
        elif name in old:
            w.copy_(old[name])          # (add_embedding.linear_1 keeps its seeded weights)
    wide.load_state_dict(new)
    return wide.eval()


def convert(sd_pipe, seed: int = 0) -> StableDiffusionXLPipeline:
    """An SDXL pipeline from an SD 1.x one that, before any training, denoises as it does."""
    tokenizer = sd_pipe.tokenizer
    text_encoder_2 = build_text_encoder_2(tokenizer, seed)
    c = text_encoder_2.config
    unet = widen_unet(sd_pipe.unet, c.hidden_size, c.projection_dim, seed)
    return StableDiffusionXLPipeline(
        vae=sd_pipe.vae, text_encoder=sd_pipe.text_encoder, text_encoder_2=text_encoder_2,
        tokenizer=tokenizer, tokenizer_2=tokenizer, unet=unet, scheduler=sd_pipe.scheduler,
        force_zeros_for_empty_prompt=True, add_watermarker=False)


def load_source(device: str = "cpu") -> StableDiffusionXLPipeline:
    """data/sd_course converted (float32, no training)."""
    from course_lib.sd_model import load_course_pipeline

    return convert(load_course_pipeline(device=device, dtype=torch.float32))


# --- 2. training images in SDXL's way: sizes and crops, in miniature ----------------------------
def micro_conditioned(images: torch.Tensor, gen: torch.Generator, sizes=(8, 16, 32),
                      p_crop: float = 0.5, zoom: int = 48):
    """SDXL trains on images of every size, resized and cropped, and tells the U-Net how: each
    32x32 image becomes an "original" of a random size s (shrunk to s, blurry when brought
    back to 32), and a fraction p_crop is enlarged to zoom and cropped at a random corner.
    Returns (images (N, 3, 32, 32), time_ids (N, 6) = (s, s, top, left, 32, 32))."""
    n, side = len(images), images.shape[-1]
    s = torch.tensor(sizes)[torch.randint(len(sizes), (n,), generator=gen)]
    out = images.clone()
    for size in sizes:
        pick = s == size
        if size < side and pick.any():
            small = F.interpolate(images[pick], size=size, mode="area")
            out[pick] = F.interpolate(small, size=side, mode="bilinear")
    crop = torch.rand(n, generator=gen) < p_crop
    top, left = (torch.randint(zoom - side + 1, (2, n), generator=gen) * crop).unbind()
    big = F.interpolate(out[crop], size=zoom, mode="bilinear")
    for j, i in enumerate(crop.nonzero()[:, 0].tolist()):
        out[i] = big[j, :, top[i]:top[i] + side, left[i]:left[i] + side]
    full = torch.full_like(s, side)
    return out, torch.stack([s, s, top, left, full, full], dim=1).float()


# --- 3. the fine-tune ---------------------------------------------------------------------------
def fine_tune(pipe: StableDiffusionXLPipeline, images: torch.Tensor, captions: list[str],
              time_ids: torch.Tensor, steps: int, batch_size: int = 32, lr: float = 1e-3,
              p_empty: float = 0.1, p_drop_each: float = 0.3, seed: int = 0,
              progress: bool = True) -> list[float]:
    """The U-Net and the second text encoder, as sd_model.train_denoiser trains SD's, with
    SDXL's inputs: both encoders' states, the pooled embedding and each image's time ids. A
    fraction p_empty of captions become all-zero text (force_zeros_for_empty_prompt: the
    pipeline's unconditional input); besides, each of the three text inputs is zeroed on its
    own with p_drop_each (SDXL's training code gives every conditioner its own drop rate), so
    the U-Net learns to read each one. The VAE and the first text encoder stay frozen."""
    unet, scheduler = pipe.unet, pipe.scheduler
    tokenizers, encoders = (pipe.tokenizer, pipe.tokenizer_2), (pipe.text_encoder,
                                                                 pipe.text_encoder_2)
    for frozen in (pipe.vae, pipe.text_encoder):
        frozen.eval().requires_grad_(False)
    latents = encode_latents(pipe.vae, images)
    d1 = pipe.text_encoder.config.hidden_size

    def loss_on_batch(gen: torch.Generator) -> torch.Tensor:
        idx = torch.randint(len(latents), (batch_size,), generator=gen)
        keep = (torch.rand(batch_size, 3, generator=gen) >= p_drop_each).float()  # each input
        keep = keep * (torch.rand(batch_size, 1, generator=gen) >= p_empty)        # all of them
        states, pooled = embed_xl(tokenizers, encoders, [captions[i] for i in idx])
        states = torch.cat([states[..., :d1] * keep[:, 0, None, None],
                            states[..., d1:] * keep[:, 1, None, None]], dim=-1)
        t = torch.randint(scheduler.config.num_train_timesteps, (batch_size,), generator=gen)
        noise = torch.randn(latents[idx].shape, generator=gen)
        x_t, target = training_pair(scheduler, latents[idx], noise, t)
        added = {"text_embeds": pooled * keep[:, 2:], "time_ids": time_ids[idx]}
        out = unet(x_t, t, encoder_hidden_states=states, added_cond_kwargs=added).sample
        return F.mse_loss(out, target)

    return fit([unet, pipe.text_encoder_2], loss_on_batch, steps, lr, seed=seed,
               desc="SDXL U-Net + text encoder 2", progress=progress)


@torch.no_grad()
def condition_effects(pipe: StableDiffusionXLPipeline, n: int = 16, seed: int = 0) -> dict:
    """How much the U-Net's output moves (RMS change / RMS output, at random latents and
    timesteps) when one SDXL-only input changes: the second encoder's states or the pooled
    embedding (another caption's), the original size (32 -> 8) or the crop ((0, 0) -> (8, 8))."""
    gen = torch.Generator().manual_seed(seed)
    captions = [a.caption for a in shapes.all_attributes()]
    texts = [captions[i] for i in torch.randint(len(captions), (n,), generator=gen)]
    states, pooled = embed_xl((pipe.tokenizer, pipe.tokenizer_2),
                              (pipe.text_encoder, pipe.text_encoder_2), texts)
    d1 = pipe.text_encoder.config.hidden_size
    ids = add_time_ids((32, 32), (0, 0), (32, 32), n)
    c = pipe.unet.config
    x = torch.randn(n, c.in_channels, c.sample_size, c.sample_size, generator=gen)
    t = torch.randint(50, 950, (n,), generator=gen)

    def run(s=states, p=pooled, i=ids):
        added = {"text_embeds": p, "time_ids": i}
        return pipe.unet(x, t, encoder_hidden_states=s, added_cond_kwargs=added).sample

    base = run()
    other = torch.cat([states[:, :, :d1], states.roll(1, 0)[:, :, d1:]], dim=-1)
    moved = {"text_encoder_2": run(s=other), "pooled": run(p=pooled.roll(1, 0)),
             "original_size": run(i=add_time_ids((8, 8), (0, 0), (32, 32), n)),
             "crop": run(i=add_time_ids((32, 32), (8, 8), (32, 32), n))}
    rms = base.pow(2).mean().sqrt()
    return {k: ((v - base).pow(2).mean().sqrt() / rms).item() for k, v in moved.items()}


def train_and_save(folder: str | Path, config: dict = CONFIG, progress: bool = True):
    """Convert data/sd_course, fine-tune it (config["steps"]; 0 ships the converted model)
    and save into `folder`, with the losses and condition_effects before and after."""
    c = config
    pipe = load_source()
    before = condition_effects(pipe)
    gen = torch.Generator().manual_seed(c["seed"])
    images, captions, _ = shapes.make_dataset(c["n_images"], seed=c["seed"])
    images, time_ids = micro_conditioned(images, gen, c["sizes"], c["p_crop"], c["zoom"])
    losses = fine_tune(pipe, images, captions, time_ids, c["steps"], c["batch_size"], c["lr"],
                       c["p_empty"], c["p_drop_each"], c["seed"], progress) if c["steps"] else []
    sd_model.save_pipeline(pipe, folder)
    record = {"config": c, "losses": losses, "effects_before": before,
              "effects_after": condition_effects(pipe)}
    (Path(folder) / "losses.json").write_text(json.dumps(record), encoding="utf-8")
    return losses


# --- 4. saving and loading: the hub's way, as sd_model saves and loads sd_course ------------
def load_course_xl_pipeline(device: str | torch.device | None = None,
                            dtype: torch.dtype | None = None) -> StableDiffusionXLPipeline:
    """The shipped data/sdxl_course, offline, in float16 on CUDA and float32 otherwise."""
    return sd_model.load_course_pipeline(device, dtype, name=FOLDER,
                                         rebuild=f"from data/{SOURCE}, about 8 minutes")
