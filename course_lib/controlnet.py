"""Spatial control (the ControlNet idea, Zhang et al. 2023) for the course's text-to-image model.

Introduced in notebook 10. A trainable copy of the U-Net's encoder reads a layout mask (where
the shape should be, a 32x32 image) and adds its features to the frozen U-Net's skip
connections through zero-initialised convolutions, so that it starts as a no-op. Built with
diffusers' ControlNetModel.from_unet and run by StableDiffusionControlNetPipeline.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from course_lib import runtime, shapes
from course_lib.bridge import training_pair

# The notebook's exercise: its reference lives once, in its exercise file.
from course_lib.exercises.nb10.controlled_unet import controlled_unet
from course_lib.fit import fit

FOLDER = "controlnet_layout"  # data/controlnet_layout/, by `python -m course_lib.train controlnet`
CONFIG = {"n_images": 10_000, "steps": 600, "batch_size": 32, "lr": 1e-3, "p_no_position": 0.5,
          "p_empty": 0.1, "seed": 0}
PLACES = tuple(f" at the {p}" for p in shapes.POSITIONS if p != "center") + (" in the center",)


def build_controlnet(unet):
    """ControlNetModel.from_unet: the U-Net's encoder (conv_in, time embedding, down and mid
    blocks) copied with its weights, a small conditioning encoder (32x32 -> 8x8, the latent
    size) and zero convolutions on every output."""
    from diffusers import ControlNetModel

    return ControlNetModel.from_unet(unet, conditioning_embedding_out_channels=(16, 32, 48))


def layout_mask(images: torch.Tensor) -> torch.Tensor:
    """The control image of shapes images in [-1, 1]: white where the shape is, black
    elsewhere, (B, 3, H, W) in [0, 1] as StableDiffusionControlNetPipeline takes it."""
    from course_lib.new_shape import foreground

    return foreground(images)[:, None].float().expand(-1, 3, -1, -1).contiguous()


def drop_position(caption: str) -> str:
    """'a large red circle at the top left' -> 'a large red circle': the place is left to
    the control image."""
    for place in PLACES:
        caption = caption.replace(place, "")
    return caption


def train_controlnet(pipe, controlnet, images: torch.Tensor, captions: list[str], steps: int,
                     batch_size: int = 32, lr: float = 1e-3, p_no_position: float = 0.5,
                     p_empty: float = 0.1, seed: int = 0, progress: bool = True) -> list[float]:
    """The usual loss of the frozen U-Net steered by the ControlNet, which alone learns.
    Half of the captions lose their place (the mask must carry it), a tenth are empty."""
    from course_lib.sd_model import encode_latents, token_ids

    unet, scheduler = pipe.unet.requires_grad_(False), pipe.scheduler
    images = images.to(pipe.device, pipe.dtype)
    latents = encode_latents(pipe.vae, images)
    with torch.no_grad():
        controls = layout_mask(images)
        names = sorted({c for full in captions for c in (full, drop_position(full))} | {""})
        text = pipe.text_encoder(token_ids(pipe.tokenizer, names).to(pipe.device))[0]
    row = {c: i for i, c in enumerate(names)}
    full = torch.tensor([row[c] for c in captions])
    short = torch.tensor([row[drop_position(c)] for c in captions])

    def loss_on_batch(gen: torch.Generator) -> torch.Tensor:
        idx = torch.randint(len(latents), (batch_size,), generator=gen)
        u = torch.rand(batch_size, generator=gen)
        ids = torch.where(u < p_no_position, short[idx], full[idx])
        ids = torch.where(u > 1 - p_empty, row[""], ids)
        t = torch.randint(scheduler.config.num_train_timesteps, (batch_size,), generator=gen)
        noise = torch.randn(latents[idx].shape, generator=gen).to(latents)
        t = t.to(latents.device)
        x_t, target = training_pair(scheduler, latents[idx], noise, t)
        pred = controlled_unet(unet, controlnet, x_t, t, text[ids], controls[idx])
        return F.mse_loss(pred, target)

    return fit(controlnet, loss_on_batch, steps, lr, seed=seed, weight_decay=1e-2,
               cosine=False, desc="ControlNet", progress=progress)


def control_pipeline(pipe, controlnet, safety_checker=None):
    """StableDiffusionControlNetPipeline from the text-to-image pipeline's parts (the
    ControlNet must be on the pipeline's device, in its dtype); optionally with a content
    filter in its safety_checker slot (course_lib.safety.ConceptFilter)."""
    from diffusers import StableDiffusionControlNetPipeline

    from course_lib.safety import ToCLIPInput

    parts = {k: v for k, v in pipe.components.items()
             if k not in ("image_encoder", "safety_checker", "feature_extractor")}
    control = StableDiffusionControlNetPipeline(
        **parts, controlnet=controlnet, safety_checker=safety_checker,
        feature_extractor=ToCLIPInput() if safety_checker is not None else None,
        requires_safety_checker=False)
    control.set_progress_bar_config(disable=True)
    return control


@torch.no_grad()
def follow_rates(control_pipe, judge, attrs: list[shapes.Attributes], prompts: list[str],
                 steps: int = 20, w: float = 3.0, scale: float = 1.0, seed: int = 0,
                 batch_size: int = 100) -> tuple[torch.Tensor, dict]:
    """One image per prompt, steered by the layout mask of shapes.render(attrs[i]) at
    controlnet_conditioning_scale `scale` (0: the prompt alone). Returns the images in
    [-1, 1] and how often the judged place and shape are the mask's, and the mean IoU."""
    masks = layout_mask(torch.stack([shapes.render(a) for a in attrs]))
    gen, out = torch.Generator().manual_seed(seed), []
    for i in range(0, len(prompts), batch_size):
        out.append(control_pipe(prompts[i:i + batch_size], image=masks[i:i + batch_size],
                                num_inference_steps=steps, guidance_scale=w,
                                controlnet_conditioning_scale=scale, generator=gen,
                                output_type="pt").images.float().cpu() * 2 - 1)
    images, pred = torch.cat(out), judge.predict(torch.cat(out))
    place = torch.tensor([list(shapes.POSITIONS).index(a.position) for a in attrs])
    shape = torch.tensor([shapes.SHAPES.index(a.shape) for a in attrs])
    return images, {"place follows mask": (pred[:, 2] == place).float().mean().item(),
                    "shape follows mask": (pred[:, 0] == shape).float().mean().item(),
                    "mask IoU": mask_iou(images, masks).mean().item()}


def mask_iou(images: torch.Tensor, control: torch.Tensor) -> torch.Tensor:
    """(B,) intersection over union of each image's shape (its foreground) and the mask."""
    from course_lib.new_shape import foreground

    a, b = foreground(images), control[:, 0] > 0.5
    return (a & b).flatten(1).sum(1) / (a | b).flatten(1).sum(1).clamp(min=1)


def train_and_save(out: str | Path | None = None, config: dict = CONFIG,
                   progress: bool = True) -> list[float]:
    """Train a ControlNet for the shipped course model; save it in float16 to `out`
    (data/controlnet_layout by default) with save_pretrained, and its losses as losses.json."""
    from course_lib.sd_model import load_course_pipeline

    c, start = config, time.perf_counter()
    out = Path(out or runtime.DATA_DIR / FOLDER)
    torch.manual_seed(c["seed"])
    pipe = load_course_pipeline(device="cpu")
    images, captions, _ = shapes.make_dataset(c["n_images"], seed=c["seed"] + 10)
    controlnet = build_controlnet(pipe.unet)
    losses = train_controlnet(pipe, controlnet, images, captions, c["steps"], c["batch_size"],
                              c["lr"], c["p_no_position"], c["p_empty"], c["seed"], progress)
    controlnet.half()                      # not .to(dtype): diffusers warns on such casts
    controlnet.save_pretrained(out, safe_serialization=True)
    record = {"config": c, "losses": losses, "seconds": round(time.perf_counter() - start, 1)}
    (out / "losses.json").write_text(json.dumps(record), encoding="utf-8")
    return losses


def load_controlnet(device: str | torch.device = "cpu", dtype: torch.dtype = torch.float32,
                    folder: str | Path | None = None):
    """The ControlNet in `folder` (the shipped data/controlnet_layout by default), offline."""
    from diffusers import ControlNetModel

    folder = folder or runtime.data_path(FOLDER)
    from course_lib.sd_weights import no_loading_bars

    with no_loading_bars():
        net = ControlNetModel.from_pretrained(folder, dtype=dtype, local_files_only=True)
    return net.to(device)
