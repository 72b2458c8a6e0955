"""The course's text-to-image model in diffusers' own format: Stable Diffusion at shapes size.

Used in notebook 08 (Stable Diffusion taken apart). The same five parts as SD 1.5, built from
small configs and trained here on the shapes data: a CLIP BPE tokenizer learned from the
captions (vocab.json + merges.txt), a CLIPTextModel, an AutoencoderKL (32x32x3 <-> 8x8x4), a
UNet2DConditionModel with cross-attention, and SD 1.5's noise schedule in a DDIMScheduler.
`python -m course_lib.train sd_course` writes data/sd_course/; `load_course_pipeline()` loads
it offline, so the notebook's code runs unchanged on real SD weights (another folder, fp16).
"""
from __future__ import annotations

import json
from pathlib import Path

import torch
import torch.nn.functional as F
from diffusers import AutoencoderKL, DDIMScheduler, StableDiffusionPipeline, UNet2DConditionModel
from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

from course_lib import runtime, shapes
from course_lib.bpe import MAX_LENGTH, save_tokenizer, token_ids
from course_lib.bridge import training_pair
from course_lib.fit import fit
from course_lib.judge import Judge, match_rate

FOLDER = "sd_course"   # data/sd_course/, made by `python -m course_lib.train sd_course`
CONFIG = {"n_images": 20_000, "vae_steps": 1500, "vae_lr": 2e-3, "beta": 1e-3,
          "steps": 2000, "batch_size": 64, "lr": 1e-3, "p_empty": 0.1, "seed": 0}


# --- 1. the parts, from small configs (the tokenizer: course_lib.bpe) ----------------------------
def build_vae() -> AutoencoderKL:
    """32x32x3 -> 8x8x4: three blocks, two of which halve the size (factor 4, SD has 8)."""
    return AutoencoderKL(in_channels=3, out_channels=3, sample_size=32, latent_channels=4,
                         down_block_types=("DownEncoderBlock2D",) * 3,
                         up_block_types=("UpDecoderBlock2D",) * 3,
                         block_out_channels=(16, 32, 64), layers_per_block=1, norm_num_groups=16)


def build_text_encoder(tokenizer: CLIPTokenizer) -> CLIPTextModel:
    """A two-layer CLIP text transformer (SD 1.5's has 12 layers of width 768)."""
    config = CLIPTextConfig(vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128,
                            num_hidden_layers=2, num_attention_heads=4,
                            max_position_embeddings=MAX_LENGTH,
                            pad_token_id=tokenizer.pad_token_id,
                            bos_token_id=tokenizer.bos_token_id,
                            eos_token_id=tokenizer.eos_token_id)
    return CLIPTextModel(config)


def build_unet(text_dim: int = 64) -> UNet2DConditionModel:
    """8x8x4 latents -> noise estimate. SD 1.5's block pattern at three sizes (8, 4, 2; SD has
    four): cross-attention to the text at 8x8 and 4x4, plain ResNet blocks at 2x2.
    (diffusers' `attention_head_dim` here is the number of heads, a known misnomer.)"""
    return UNet2DConditionModel(
        sample_size=8, in_channels=4, out_channels=4, block_out_channels=(48, 96, 96),
        down_block_types=("CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"),
        layers_per_block=1, cross_attention_dim=text_dim, attention_head_dim=4, norm_num_groups=16)


def build_scheduler() -> DDIMScheduler:
    """SD 1.5's training noise schedule and sampler settings (no clipping, no alpha 1), with
    SD 2's v-prediction: v = sqrt(alpha_bar) eps - sqrt(1 - alpha_bar) x0. Trained to predict
    eps, this small model ignored where the prompt put the shape: at high noise eps is almost
    x_t itself, so the loss says little about layout, and layout is decided there."""
    return DDIMScheduler(num_train_timesteps=1000, beta_schedule="scaled_linear",
                         beta_start=0.00085, beta_end=0.012, clip_sample=False,
                         set_alpha_to_one=False, steps_offset=1, prediction_type="v_prediction")


def build_pipeline(folder: str | Path) -> StableDiffusionPipeline:
    """An untrained pipeline; its tokenizer is learned from the captions into folder/tokenizer."""
    captions = [a.caption for a in shapes.all_attributes()]
    tokenizer = save_tokenizer(Path(folder) / "tokenizer", captions)
    text_encoder = build_text_encoder(tokenizer)
    return StableDiffusionPipeline(
        vae=build_vae(), text_encoder=text_encoder, tokenizer=tokenizer,
        unet=build_unet(text_encoder.config.hidden_size), scheduler=build_scheduler(),
        safety_checker=None, feature_extractor=None, requires_safety_checker=False)


# --- 3. training ------------------------------------------------------------------------------
def train_vae(vae: AutoencoderKL, images: torch.Tensor, steps: int, batch_size: int = 64,
              lr: float = 2e-3, beta: float = 1e-3, seed: int = 0,
              progress: bool = True) -> list[float]:
    """MSE(recon, x) + beta * KL / pixels, as notebook 07's VAE; then scaling_factor = 1/std."""
    def loss_on_batch(gen: torch.Generator) -> torch.Tensor:
        x = images[torch.randint(len(images), (batch_size,), generator=gen)]
        posterior = vae.encode(x).latent_dist
        recon = vae.decode(posterior.sample(gen)).sample
        return F.mse_loss(recon, x) + beta * posterior.kl().mean() / x[0].numel()

    losses = fit(vae, loss_on_batch, steps, lr, seed=seed, desc="AutoencoderKL",
                 progress=progress)
    with torch.no_grad():
        std = vae.encode(images[:2000]).latent_dist.mean.std().item()
    vae.register_to_config(scaling_factor=1.0 / std)  # the pipeline divides latents by it
    return losses


@torch.no_grad()
def encode_latents(vae: AutoencoderKL, images: torch.Tensor) -> torch.Tensor:
    """Scaled latents of images in [-1, 1], as the U-Net sees them: the posterior means (the
    KL term is small, so samples sit close to them) times vae.config.scaling_factor."""
    images = images.to(vae.device, vae.dtype)
    latents = torch.cat([vae.encode(b).latent_dist.mean for b in images.split(500)])
    return latents * vae.config.scaling_factor


def train_denoiser(pipe: StableDiffusionPipeline, images: torch.Tensor, captions: list[str],
                   steps: int, batch_size: int = 64, lr: float = 1e-3, p_empty: float = 0.1,
                   seed: int = 0, progress: bool = True) -> list[float]:
    """U-Net and text encoder together: the scheduler's prediction type (v or epsilon) on
    scaled latents noised at uniform random timesteps (bridge.training_pair); a fraction p_empty
    of captions become "" (the empty prompt, which classifier-free guidance uses as the
    unconditional input)."""
    vae, unet, text_encoder, scheduler = pipe.vae, pipe.unet, pipe.text_encoder, pipe.scheduler
    latents = encode_latents(vae, images)
    ids_all, empty = token_ids(pipe.tokenizer, captions), token_ids(pipe.tokenizer, [""])

    def loss_on_batch(gen: torch.Generator) -> torch.Tensor:
        idx = torch.randint(len(latents), (batch_size,), generator=gen)
        drop = torch.rand(batch_size, 1, generator=gen) < p_empty
        ids = torch.where(drop, empty, ids_all[idx])
        t = torch.randint(scheduler.config.num_train_timesteps, (batch_size,), generator=gen)
        noise = torch.randn(latents[idx].shape, generator=gen)
        x_t, target = training_pair(scheduler, latents[idx], noise, t)
        text = text_encoder(ids)[0]                # last hidden state, as the pipeline uses
        return F.mse_loss(unet(x_t, t, encoder_hidden_states=text).sample, target)

    return fit([unet, text_encoder], loss_on_batch, steps, lr, seed=seed,
               desc="UNet + text encoder", progress=progress)


def train_and_save(folder: str | Path, config: dict = CONFIG, progress: bool = True):
    """Build, train (the VAE first, then U-Net + text encoder) and save into `folder`.
    Returns the denoiser's losses; the VAE's are in folder/losses.json with them."""
    c = config
    torch.manual_seed(c["seed"])
    pipe = build_pipeline(folder)
    images, captions, _ = shapes.make_dataset(c["n_images"], seed=c["seed"])
    vae_losses = train_vae(pipe.vae, images, c["vae_steps"], c["batch_size"], c["vae_lr"],
                           c["beta"], c["seed"], progress)
    pipe.vae.eval().requires_grad_(False)
    losses = train_denoiser(pipe, images, captions, c["steps"], c["batch_size"], c["lr"],
                            c["p_empty"], c["seed"], progress)
    save_pipeline(pipe, folder)
    record = {"config": c, "vae_losses": vae_losses, "losses": losses}
    (Path(folder) / "losses.json").write_text(json.dumps(record), encoding="utf-8")
    return losses


# --- 4. saving and loading --------------------------------------------------------------------
def save_pipeline(pipe, folder: str | Path) -> None:
    """Saved the way the hub keeps models: float32 main weights, which a plain
    `DiffusionPipeline.from_pretrained(folder)` loads on any device, and a float16 copy as
    `variant="fp16"` for GPUs. Both hold the same numbers (rounded to float16 first), so a
    float16 GPU run and a float32 CPU run start from one model."""
    parts = [m for m in pipe.components.values() if isinstance(m, torch.nn.Module)]
    for part in parts:
        part.half()                  # not .to(dtype): diffusers warns on every such cast
    pipe.save_pretrained(folder, safe_serialization=True, variant="fp16")
    for part in parts:
        part.float()
    pipe.save_pretrained(folder, safe_serialization=True)


def load_course_pipeline(device: str | torch.device | None = None,
                         dtype: torch.dtype | None = None, name: str = FOLDER,
                         rebuild: str = "about 9 minutes on a CPU"):
    """The shipped pipeline from data/<name> (sd_course, or sdxl_course), offline; on
    runtime.get_device() by default, in float16 on CUDA and float32 otherwise. Real SD
    weights: the same call with their folder."""
    device = torch.device(device) if device is not None else runtime.get_device()
    dtype = dtype or (torch.float16 if device.type == "cuda" else torch.float32)
    folder = runtime.DATA_DIR / name
    if not (folder / "model_index.json").exists():
        raise FileNotFoundError(
            f"{folder} is missing. It ships with the course: restore it with "
            f"`git checkout -- data/{name}`, or rebuild it ({rebuild}) with "
            f"`python -m course_lib.train {name}`.")
    from course_lib.sd_weights import load_pipeline  # the one loader of diffusers folders

    return load_pipeline(folder, device, dtype)


@torch.no_grad()
def prompt_match(pipe: StableDiffusionPipeline, judge: Judge, attrs: list[shapes.Attributes],
                 steps: int = 25, guidance_scale: float = 5.0, seed: int = 0) -> dict:
    """The judge's match rates (course_lib.judge.match_rate) for one image per prompt."""
    gen = torch.Generator(pipe.device).manual_seed(seed)
    images = pipe([a.caption for a in attrs], num_inference_steps=steps, generator=gen,
                  guidance_scale=guidance_scale, output_type="pt").images
    return match_rate(judge, images.float().cpu() * 2 - 1, attrs)
