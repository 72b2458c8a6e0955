"""Teaching the course's text-to-image model something new: LoRA, a new shape, DreamBooth.

Introduced in notebook 10. A LoRA layer written out (W x + (alpha / r) B A x), the same adapter
put on the U-Net's attention layers by peft through diffusers, and a short fine-tune (the
course model's own loss on scaled VAE latents) with optional prior preservation, which
teaches the model course_lib.new_shape's cross.
"""
from __future__ import annotations

import json
import time
import warnings
from pathlib import Path

import torch
from torch import nn

from course_lib import new_shape, runtime, shapes
from course_lib.bridge import training_pair

# The notebook's exercises: each reference lives once, in its exercise file.
from course_lib.exercises.nb10.lora_forward import lora_forward
from course_lib.exercises.nb10.merge_lora import merge_lora
from course_lib.exercises.nb10.prior_preservation_loss import prior_preservation_loss
from course_lib.fit import fit
from course_lib.judge import Judge

__all__ = ["ADAPTERS", "CONFIG", "GUIDANCE", "RARE_WORD", "TARGETS", "LoRALinear", "add_lora",
           "class_data", "fine_tune", "generate", "load_adapter", "lora_forward", "measure",
           "merge_lora", "prior_preservation_loss", "train_adapter"]

TARGETS = ["to_q", "to_k", "to_v", "to_out.0"]      # every attention projection of the U-Net
RARE_WORD = "sks"                                   # DreamBooth's rare token
GUIDANCE = 3.0                                      # w for every image this module generates
CONFIG = {"rank": 4, "alpha": 4, "n_images": 40, "n_prior": 100, "steps": 300, "batch_size": 16,
          "lr": 2e-3, "prior_weight": 1.0, "seed": 0}
ADAPTERS = {  # name: (word for the new shape, prior preservation?)
    "lora_cross": (new_shape.NAME, False),
    "dreambooth_sks": (RARE_WORD, True),
    "dreambooth_sks_noprior": (RARE_WORD, False)}


# --- 1. LoRA by hand ---------------------------------------------------------------------------
class LoRALinear(nn.Module):
    """A frozen nn.Linear plus a trainable rank-r update. B starts at zero, so before training
    the layer is exactly the base layer; A starts random (peft's "gaussian": std 1/r)."""

    def __init__(self, base: nn.Linear, r: int = 4, alpha: float = 4.0):
        super().__init__()
        self.base, self.alpha = base.requires_grad_(False), alpha
        self.A = nn.Parameter(torch.randn(r, base.in_features) / r)
        self.B = nn.Parameter(torch.zeros(base.out_features, r))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return lora_forward(x, self.base, self.A, self.B, self.alpha)


def add_lora(unet, rank: int = 4, alpha: float = 4.0, targets=TARGETS) -> int:
    """Freeze the U-Net and put a LoRA adapter on its attention projections (as diffusers'
    train_text_to_image_lora.py does); returns the number of trainable parameters."""
    from peft import LoraConfig

    unet.requires_grad_(False)
    unet.add_adapter(LoraConfig(r=rank, lora_alpha=alpha, init_lora_weights="gaussian",
                                target_modules=targets))
    return sum(p.numel() for p in unet.parameters() if p.requires_grad)


# --- 2. fine-tuning, with DreamBooth's prior preservation ---------------------------------------
@torch.no_grad()
def _latents_and_text(pipe, images: torch.Tensor, captions: list[str]):
    from course_lib.sd_model import encode_latents, token_ids

    ids = token_ids(pipe.tokenizer, captions).to(pipe.device)
    return encode_latents(pipe.vae, images), pipe.text_encoder(ids)[0]


def fine_tune(pipe, images: torch.Tensor, captions: list[str], steps: int, batch_size: int = 16,
              lr: float = 2e-3, prior: tuple | None = None, prior_weight: float = 1.0,
              seed: int = 0, progress: bool = True) -> list[float]:
    """Train the U-Net's trainable parameters (a LoRA after add_lora) on images + captions
    with the usual loss (see bridge.training_pair); with prior = (class images, class captions)
    every batch also holds batch_size of those, weighted by prior_weight. Text encoder and
    VAE stay frozen."""
    unet, scheduler = pipe.unet, pipe.scheduler
    latents, text = _latents_and_text(pipe, images, captions)
    if prior is not None:
        prior_latents, prior_text = _latents_and_text(pipe, *prior)

    def loss_on_batch(gen: torch.Generator) -> torch.Tensor:
        idx = torch.randint(len(latents), (batch_size,), generator=gen)
        z, txt = latents[idx], text[idx]
        if prior is not None:
            j = torch.randint(len(prior_latents), (batch_size,), generator=gen)
            z, txt = torch.cat([z, prior_latents[j]]), torch.cat([txt, prior_text[j]])
        is_prior = (torch.arange(len(z)) >= batch_size).to(z.device)
        t = torch.randint(scheduler.config.num_train_timesteps, (len(z),), generator=gen)
        noise = torch.randn(z.shape, generator=gen).to(z)
        t = t.to(z.device)
        x_t, target = training_pair(scheduler, z, noise, t)
        pred = unet(x_t, t, encoder_hidden_states=txt).sample
        return prior_preservation_loss(pred, target, is_prior, prior_weight)

    return fit(unet, loss_on_batch, steps, lr, seed=seed, weight_decay=1e-2, cosine=False,
               desc="fine-tune", progress=progress)


@torch.no_grad()
def generate(pipe, prompts: list[str], steps: int = 20, w: float = GUIDANCE, seed: int = 0,
             batch_size: int = 100) -> torch.Tensor:
    """Images (B, 3, 32, 32) in [-1, 1] from the pipeline's own call, in batches."""
    gen = torch.Generator().manual_seed(seed)
    out = [pipe(prompts[i:i + batch_size], num_inference_steps=steps, guidance_scale=w,
                generator=gen, output_type="pt").images.float().cpu() * 2 - 1
           for i in range(0, len(prompts), batch_size)]
    return torch.cat(out)


def measure(pipe, judge: Judge, word: str, new_attrs: list, old_attrs: list, steps: int = 20,
            w: float = GUIDANCE, seed: int = 0) -> dict:
    """One image per prompt: the new concept's rates (concept_match) for new_attrs with the
    colour called `word`, and the judge's all-three match rate for the old prompts."""
    from course_lib.judge import match_rate

    new = new_shape.concept_match(judge, generate(
        pipe, [new_shape.caption(a, word) for a in new_attrs], steps, w, seed), new_attrs)
    old = generate(pipe, [a.caption for a in old_attrs], steps, w, seed + 1)
    return {"new shape": new["shape"], "new, all three": new["all"],
            "old prompts": match_rate(judge, old, old_attrs)["all"]}


def class_data(pipe, n: int, seed: int = 0):
    """DreamBooth's prior: n images the model itself makes for old prompts (every shape,
    colour, place and size in turn), with those prompts."""
    combos = shapes.all_attributes()
    prompts = [combos[(i * 37) % len(combos)].caption for i in range(n)]  # spread over combos
    return generate(pipe, prompts, seed=seed + 1), prompts


def train_adapter(name: str, out_dir: str | Path | None = None, config: dict = CONFIG,
                  progress: bool = True) -> list[float]:
    """Fine-tune a LoRA on the shipped course model (ADAPTERS[name] says the word and whether
    to preserve the prior) and save it as out_dir/NAME.safetensors with diffusers'
    save_lora_weights; the losses go to out_dir/NAME.json."""
    from diffusers import StableDiffusionPipeline
    from peft.utils import get_peft_model_state_dict

    from course_lib.sd_model import load_course_pipeline

    c, (word, use_prior) = config, ADAPTERS[name]
    out_dir = Path(out_dir or runtime.DATA_DIR)
    start = time.perf_counter()
    torch.manual_seed(c["seed"])
    pipe = load_course_pipeline(device="cpu")
    pipe.set_progress_bar_config(disable=True)
    prior = class_data(pipe, c["n_prior"], c["seed"]) if use_prior else None
    images, captions, _ = new_shape.dataset(c["n_images"], word, c["seed"])
    add_lora(pipe.unet, c["rank"], c["alpha"])
    losses = fine_tune(pipe, images, captions, c["steps"], c["batch_size"], c["lr"], prior,
                       c["prior_weight"], c["seed"], progress)
    state = {k: v.half() for k, v in get_peft_model_state_dict(pipe.unet).items()}
    StableDiffusionPipeline.save_lora_weights(out_dir, unet_lora_layers=state,
                                              weight_name=f"{name}.safetensors")
    record = {"config": c, "word": word, "prior": use_prior, "losses": losses,
              "seconds": round(time.perf_counter() - start, 1)}
    (out_dir / f"{name}.json").write_text(json.dumps(record), encoding="utf-8")
    return losses


def load_adapter(pipe, name: str, folder: str | Path | None = None) -> None:
    """pipe.load_lora_weights from NAME.safetensors in `folder` (data/ by default), as the
    adapter called `name`, offline."""
    path = Path(folder) / f"{name}.safetensors" if folder else runtime.data_path(
        f"{name}.safetensors")
    with warnings.catch_warnings():  # peft's note that a second adapter joins the first
        warnings.filterwarnings("ignore", message="Already found a `peft_config`")
        pipe.load_lora_weights(path.parent, weight_name=path.name, adapter_name=name)

