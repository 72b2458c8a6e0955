"""Reproducible training commands for every checkpoint shipped in data/.

    python -m course_lib.train spiral        # data/spiral_mlp.pt, ~20 s on one CPU thread
    python -m course_lib.train spiral_cond   # data/spiral_cond.pt, ~17 s on one CPU thread
    python -m course_lib.train judge         # data/shapes_judge.pt, ~30 s on one CPU thread
    python -m course_lib.train unet_pixels   # data/unet_pixels.pt, ~8 min on two CPU threads
    python -m course_lib.train vae           # data/vae.pt, ~2.5 min on two CPU threads
    python -m course_lib.train text2img      # data/text2img.pt (needs data/vae.pt), ~6 min
    python -m course_lib.train sd_course     # data/sd_course/, a diffusers folder, ~25 min
    python -m course_lib.train sdxl_course --threads 1  # data/sdxl_course/ (after sd_course), 8 min
    python -m course_lib.train features --threads 1  # data/features.pt, ~60 s
    python -m course_lib.train clip --threads 1      # data/clip.pt, ~70 s
    python -m course_lib.train lora_cross --threads 1             # notebook 10, ~40 s
    python -m course_lib.train dreambooth_sks --threads 1          # ~70 s
    python -m course_lib.train dreambooth_sks_noprior --threads 1  # ~40 s
    python -m course_lib.train controlnet --threads 1              # controlnet_layout/, ~2.5 min
    python -m course_lib.train spiral_flow    # data/spiral_flow.pt, notebook 12, ~45 s
    python -m course_lib.train spiral_reflow  # data/spiral_reflow.pt (needs spiral_flow), ~30 s
    python -m course_lib.train lcm_lora --threads 1  # notebook 11 (needs sd_course), 6-12 min
    python -m course_lib.train dit --threads 1  # data/dit_shapes.pt (after vae), ~8 min

Each command fixes its seed and uses one thread, so the same command gives the same file.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from course_lib import (
    artefacts,
    clip,
    diffusion,
    dit,
    features,
    flow,
    guidance,
    judge,
    latent,
    shapes,
    spiral,
    text,
    unet,
    vae,
)
from course_lib.runtime import DATA_DIR, save_model

# each run's settings: the typed config next to its model, saved as a dict with the weights
SPIRAL_CONFIG = spiral.SpiralConfig()
COND_CONFIG = guidance.CondConfig()
JUDGE_CONFIG = judge.JudgeConfig()
UNET_CONFIG = unet.UNetConfig()
VAE_CONFIG = vae.VAEConfig()
T2I_CONFIG = latent.TextToImageConfig()
# notebook 09's two examiners: FID/KID features and a tiny CLIP (one thread: --threads 1)
FEATURES_CONFIG = features.FeaturesConfig()
CLIP_CONFIG = clip.ClipConfig()
# notebook 12's diffusion transformer on the shapes latents
DIT_CONFIG = dit.DiTConfig()


def _schedule(c: spiral.SpiralConfig | unet.UNetConfig) -> diffusion.Schedule:
    return diffusion.Schedule(c.sigma_min, c.sigma_max)


def train_spiral(config: spiral.SpiralConfig | dict = SPIRAL_CONFIG, progress: bool = True):
    """Train the notebook 01 denoiser from scratch; returns (model, losses)."""
    c = spiral.SpiralConfig.from_dict(config)
    torch.manual_seed(c.seed)
    model = spiral.build(c)
    losses = diffusion.train_denoiser(model, spiral.make_spiral(c.n_points), c.steps,
                                      c.batch_size, c.lr, _schedule(c), seed=c.seed,
                                      progress=progress)
    return model, losses


def train_spiral_cond(config: guidance.CondConfig | dict = COND_CONFIG, progress: bool = True):
    """Train notebook 05's conditional denoiser (noisy arm labels, 20% dropped to NULL)."""
    c = guidance.CondConfig.from_dict(config)
    torch.manual_seed(c.seed)
    model = guidance.build(c)
    data, _, labels = guidance.labelled_spiral(c.n_points, c.label_noise, c.seed)
    losses = guidance.train_conditional(model, data, labels, c.steps, c.p_uncond,
                                        c.batch_size, c.lr, c.seed, progress)
    return model, losses


def train_unet_pixels(config: unet.UNetConfig | dict = UNET_CONFIG, progress: bool = True):
    """Notebook 06's pixel-space U-Net on the shapes data, with notebook 01's loop."""
    c = unet.UNetConfig.from_dict(config)
    torch.manual_seed(c.seed)
    images, _, _ = shapes.make_dataset(c.n_images, seed=c.seed)
    model = unet.build(c)
    losses = diffusion.train_denoiser(model, images, c.steps, c.batch_size, c.lr,
                                      _schedule(c), c.seed, progress, sigma_data=c.sigma_data)
    return model, losses


def _train_judge(config: judge.JudgeConfig | dict = JUDGE_CONFIG, progress: bool = True):
    c = judge.JudgeConfig.from_dict(config)
    return judge.train_judge(c.steps, c.batch_size, c.n, c.seed, progress)


def train_vae(config: vae.VAEConfig | dict = VAE_CONFIG, progress: bool = True):
    """Notebook 07's VAE; the latent scale (1 / std of the latents) is stored in the config."""
    c = vae.VAEConfig.from_dict(config)
    torch.manual_seed(c.seed)
    images, _, _ = shapes.make_dataset(c.n_images, seed=c.seed)
    model = vae.build(c)
    losses = vae.train_vae(model, images, c.steps, c.batch_size, c.lr, c.beta, c.seed,
                           progress)
    return model, losses, c.replace(scale=vae.latent_scale(model.eval(), images[:2000]))


def train_text2img(config: latent.TextToImageConfig | dict = T2I_CONFIG,
                   progress: bool = True):
    """Notebook 07's text-to-image model on the latents of the shipped VAE."""
    c = latent.TextToImageConfig.from_dict(config)
    torch.manual_seed(c.seed)
    z, captions, vocab = latent.shapes_latents(c.n_images, c.seed)
    c = c.replace(vocab=vocab)
    model = latent.build(c)
    losses = latent.train_text_to_image(model, z, captions, c.vocab, c.steps, c.batch_size,
                                        c.lr, c.p_empty, c.seed, progress)
    return model, losses, c


def train_feature_net(config: features.FeaturesConfig | dict = FEATURES_CONFIG,
                      progress: bool = True):
    """Notebook 09's feature encoder: a 120-class classifier of the shapes images."""
    c = features.FeaturesConfig.from_dict(config)
    torch.manual_seed(c.seed)
    model = features.build(c)
    losses = features.train_features(model, c.steps, c.batch_size, c.n, c.lr, c.seed,
                                     progress)
    return model.eval(), losses


def train_tiny_clip(config: clip.ClipConfig | dict = CLIP_CONFIG, progress: bool = True):
    """Notebook 09's tiny CLIP on every caption (held-out pairs included, like the judge)."""
    c = clip.ClipConfig.from_dict(config)
    torch.manual_seed(c.seed)
    images, captions, _ = shapes.make_dataset(c.n_images, seed=c.seed, include_held_out=True)
    c = c.replace(vocab=text.build_vocab(captions))
    model = clip.build(c)
    losses = clip.train_clip(model, images, captions, c.vocab, c.steps, c.batch_size, c.lr,
                             c.noise, c.seed, progress)
    return model.eval(), losses, c


MODELS = {"spiral": ("spiral_mlp.pt", train_spiral, SPIRAL_CONFIG),
          "spiral_cond": ("spiral_cond.pt", train_spiral_cond, COND_CONFIG),
          "judge": ("shapes_judge.pt", _train_judge, JUDGE_CONFIG),
          "unet_pixels": ("unet_pixels.pt", train_unet_pixels, UNET_CONFIG),
          "vae": ("vae.pt", train_vae, VAE_CONFIG),
          "text2img": ("text2img.pt", train_text2img, T2I_CONFIG),
          "features": ("features.pt", train_feature_net, FEATURES_CONFIG),
          "clip": ("clip.pt", train_tiny_clip, CLIP_CONFIG),
          "sd_course": ("sd_course", None, None),  # a folder: main() lets sd_model train it
          "sdxl_course": ("sdxl_course", None, None)}  # sd_course grown into SDXL: sdxl_model
# notebook 10: LoRA adapters and a ControlNet for the shipped sd_course (they save themselves)
NOTEBOOK_10 = {"lora_cross": ("lora_cross.safetensors", None, None),
               "dreambooth_sks": ("dreambooth_sks.safetensors", None, None),
               "dreambooth_sks_noprior": ("dreambooth_sks_noprior.safetensors", None, None),
               "controlnet": ("controlnet_layout", None, None)}
MODELS.update(NOTEBOOK_10)
# notebook 11: the LCM-LoRA distilled from the shipped sd_course (it saves itself)
MODELS["lcm_lora"] = ("lcm_lora.safetensors", None, None)
# notebook 12: the spiral's velocity model, and one reflow round of it (needs spiral_flow.pt)
MODELS.update({"spiral_flow": ("spiral_flow.pt", flow.train_spiral_flow, flow.FlowConfig()),
               "spiral_reflow": ("spiral_reflow.pt",
                                 lambda: flow.train_reflow(artefacts.load("spiral_flow").model),
                                 flow.REFLOW)})


def train_dit(config: dit.DiTConfig | dict = DIT_CONFIG, progress: bool = True):
    """Notebook 12's DiT, flow matching on the latents of the shipped VAE (data/vae.pt):
    (model, losses, config with its vocabulary)."""
    c = dit.DiTConfig.from_dict(config)
    torch.manual_seed(c.seed)
    z, captions, vocab = latent.shapes_latents(c.n_images, c.seed)
    c = c.replace(vocab=vocab)
    model = dit.build(c)
    losses = dit.train_dit(model, z, captions, c.vocab, c.steps, c.batch_size, c.lr,
                           c.p_empty, c.t_sampling, c.seed, progress)
    return model.eval(), losses, c


MODELS["dit"] = ("dit_shapes.pt", train_dit, DIT_CONFIG)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Train a course checkpoint into data/.")
    parser.add_argument("model", choices=list(MODELS))
    parser.add_argument("--out", type=Path, default=None, help="output file (default: data/)")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch threads (default: 1 for the toys, 2 for image models)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads or (1 if args.model.startswith("spiral") or
                                           args.model == "judge" else 2))
    filename, train, config = MODELS[args.model]
    out = args.out or DATA_DIR / filename
    start = time.perf_counter()
    if args.model == "sd_course":  # a diffusers folder, not a state dict: it saves itself
        from course_lib import sd_model  # imports diffusers (seconds): only when asked for

        losses = sd_model.train_and_save(out)
    elif args.model == "sdxl_course":  # converted from data/sd_course, then fine-tuned
        from course_lib import sdxl_model

        losses = sdxl_model.train_and_save(out)
    elif args.model in NOTEBOOK_10:  # need data/sd_course; --out names the file or folder
        from course_lib import controlnet, customise

        losses = (controlnet.train_and_save(out) if args.model == "controlnet"
                  else customise.train_adapter(args.model, out.parent))
    elif args.model == "lcm_lora":  # needs data/sd_course; --out names the file
        from course_lib import lcm

        losses = lcm.train_and_save(out.parent)
    else:
        model, losses, *rest = train()
        # the text-to-image models are the largest files: float16 on disk (10 -> 5 MB)
        save_model(out, model, rest[0] if rest else config, losses,
                   half=args.model in ("text2img", "dit"))
    print(f"wrote {out} after {time.perf_counter() - start:.1f} s; "
          f"final loss (mean of last 500 steps) {sum(losses[-500:]) / len(losses[-500:]):.4f}")
    return 0

