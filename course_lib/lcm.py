"""Latent consistency distillation (LCM) of the course's text-to-image model to 1-4 steps.

Introduced in notebook 11, second half (Song et al., "Consistency Models", 2023; Luo et al.,
"Latent Consistency Models", 2023, and their LCM-LoRA). A student learns the consistency
function f(x_t, t): from any point of the teacher's guided probability-flow ODE straight to
its end, f(x_t, 0) = x_t held by the boundary scalings c_skip, c_out (consistency_fn). Its
target is the EMA target network's f after one guided DDIM step of the teacher from t to
s = t - 20 on LCM's skipping schedule (lcm_target), and it samples by jumping to the data and
noising back (lcm_samples), exactly as diffusers' LCMScheduler does. Here the student is a
LoRA on data/sd_course's U-Net (diffusers' format, loaded by pipe.load_lora_weights), the
guidance scale W baked in; everything works in diffusers' variables: x_t on DDPM's scale and
integer timesteps. What this is not: LCM's guidance-scale embedding (w is fixed), its
pseudo-Huber loss (plain MSE here), consistency training without a teacher, or any
adversarial distillation.
"""
from __future__ import annotations

import copy
import json
import time
import warnings
from pathlib import Path

import torch
import torch.nn.functional as F

from course_lib import runtime, shapes

# The notebook's exercises: each reference lives once, in its exercise file.
from course_lib.exercises.nb11.consistency_fn import consistency_fn
from course_lib.exercises.nb11.lcm_samples import lcm_samples
from course_lib.exercises.nb11.lcm_target import lcm_target
from course_lib.runtime import progress_bar

__all__ = ["CONFIG", "NAME", "TARGETS", "W", "consistency_fn", "lcm_generate", "lcm_latents",
           "lcm_samples", "lcm_scheduler", "lcm_target", "load_student", "skipping_timesteps",
           "student_fn", "teacher_fn", "text_states", "train_and_save", "train_lcm",
           "x0_and_eps"]

NAME = "lcm_lora"           # data/lcm_lora.safetensors (+ .json), by `course_lib.train lcm_lora`
W = 3.0                     # the guidance scale baked into the student (notebook 11's W)
TARGETS = ["to_q", "to_k", "to_v", "to_out.0", "proj_in", "proj_out", "ff.net.0.proj",
           "ff.net.2", "conv1", "conv2", "time_emb_proj"]   # LCM-LoRA's: every layer of a block
CONFIG = {"rank": 16, "alpha": 16, "n_images": 4000, "steps": 400, "batch_size": 32,
          "lr": 1e-3, "ema": 0.95, "w": W, "original_steps": 50, "seed": 0}


# --- 1. the two networks in diffusers' variables -------------------------------------------------
def x0_and_eps(output: torch.Tensor, x_t: torch.Tensor, t: torch.Tensor, alphas_cumprod,
               prediction_type: str) -> tuple[torch.Tensor, torch.Tensor]:
    """(data guess, noise guess), each like x_t (B, *D), from a U-Net's output at timesteps t
    (B,) by its prediction_type ("epsilon" or "v_prediction"), x_t = sqrt(a) x0 + sqrt(1 - a)
    eps with a = alphas_cumprod[t]."""
    a = alphas_cumprod.to(x_t.device)[t].to(x_t.dtype).reshape(-1, *[1] * (x_t.dim() - 1))
    if prediction_type == "v_prediction":
        return a.sqrt() * x_t - (1 - a).sqrt() * output, a.sqrt() * output + (1 - a).sqrt() * x_t
    if prediction_type == "epsilon":
        return (x_t - (1 - a).sqrt() * output) / a.sqrt(), output
    raise ValueError(f"prediction_type {prediction_type!r}: epsilon or v_prediction")


def _batch_t(t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    return torch.as_tensor(t, device=x.device).long().reshape(-1).expand(x.shape[0])


def teacher_fn(unet, scheduler):
    """The teacher as lcm_target calls it: teacher(x_t, t, embeds) -> its noise guess."""
    acp, kind = scheduler.alphas_cumprod, scheduler.config.prediction_type

    def teacher(x_t, t, embeds):
        t = _batch_t(t, x_t)
        out = unet(x_t, t, encoder_hidden_states=embeds.expand(len(x_t), -1, -1)).sample
        return x0_and_eps(out, x_t, t, acp, kind)[1]
    return teacher


def student_fn(unet, scheduler, embeds=None):
    """The student's consistency function f(x_t, t, embeds) (consistency_fn on the U-Net's
    data guess); with embeds given, f(x_t, t) for those prompts, as lcm_samples calls it."""
    acp, kind = scheduler.alphas_cumprod, scheduler.config.prediction_type

    def f(x_t, t, cond=None):
        cond = embeds if cond is None else cond
        t = _batch_t(t, x_t)
        out = unet(x_t, t, encoder_hidden_states=cond.expand(len(x_t), -1, -1)).sample
        return consistency_fn(x_t, x0_and_eps(out, x_t, t, acp, kind)[0], t)
    return f


def skipping_timesteps(original_steps: int = 50, num_train_timesteps: int = 1000):
    """LCM's schedule: the timesteps of `original_steps` DDIM steps, 19, 39, ..., 999 for
    50 of 1000; the teacher's step goes from one to the one below (k = 20 timesteps)."""
    k = num_train_timesteps // original_steps
    return torch.arange(1, original_steps + 1) * k - 1, k


def lcm_scheduler(config):
    """diffusers' LCMScheduler on the course model's noise schedule (a scheduler config)."""
    from diffusers import LCMScheduler

    return LCMScheduler.from_config({k: v for k, v in dict(config).items()
                                     if not k.startswith("_")})


# --- 2. distillation ---------------------------------------------------------------------------
@torch.no_grad()
def _ema_update(target: torch.nn.Module, online: torch.nn.Module, decay: float) -> None:
    """target <- decay target + (1 - decay) online, over the trainable (LoRA) parameters."""
    for p_t, p_o in zip(target.parameters(), online.parameters()):
        if p_o.requires_grad:
            p_t.lerp_(p_o, 1 - decay)


def train_lcm(pipe, latents: torch.Tensor, text: torch.Tensor, empty: torch.Tensor,
              steps: int, batch_size: int = 32, lr: float = 1e-3, w: float = W,
              ema: float = 0.95, original_steps: int = 50, seed: int = 0,
              progress: bool = True) -> list[float]:
    """Latent consistency distillation of pipe.unet (the trainable parameters: a LoRA after
    customise.add_lora) towards the frozen `teacher` copy made here: for a batch of data
    latents (N, C, h, w) with their text states (N, L, D), a timestep t of the skipping
    schedule and s = t - k (at least 0), x_t noised from the data; the student's f(x_t, t)
    against lcm_target (the teacher's guided DDIM step, the EMA target network's f at s), MSE;
    then the EMA update of the target network. Returns the losses."""
    unet, scheduler = pipe.unet, pipe.scheduler
    acp = scheduler.alphas_cumprod.to(latents.device)
    teacher_unet = copy.deepcopy(unet)
    with warnings.catch_warnings():  # peft: disabling adapters of a copy made for this
        warnings.simplefilter("ignore")
        teacher_unet.disable_adapters()
    teacher_unet.requires_grad_(False)
    target_unet = copy.deepcopy(unet).requires_grad_(False)
    teacher = teacher_fn(teacher_unet, scheduler)
    student, target = student_fn(unet, scheduler), student_fn(target_unet, scheduler)
    schedule, k = skipping_timesteps(original_steps, scheduler.config.num_train_timesteps)
    params = [p for p in unet.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=0.0)
    gen = torch.Generator().manual_seed(seed)
    losses = []
    for _ in progress_bar(range(steps), desc="consistency distillation", disable=not progress):
        idx = torch.randint(len(latents), (batch_size,), generator=gen)
        z, txt = latents[idx], text[idx]
        t = schedule[torch.randint(len(schedule), (batch_size,), generator=gen)]
        s = (t - k).clamp(min=0)
        noise = torch.randn(z.shape, generator=gen).to(z)
        t, s = t.to(z.device), s.to(z.device)
        x_t = scheduler.add_noise(z, noise, t)
        goal = lcm_target(teacher, target, x_t, t, s, acp, txt, empty, w)
        loss = F.mse_loss(student(x_t, t, txt), goal)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        _ema_update(target_unet, unet, ema)
        losses.append(loss.item())
    # the target network is what LCM ships: its weights into the student
    with torch.no_grad():
        for p, p_t in zip(unet.parameters(), target_unet.parameters()):
            if p.requires_grad:
                p.copy_(p_t)
    return losses


@torch.no_grad()
def text_states(pipe, captions: list[str]) -> torch.Tensor:
    from course_lib.sd_model import token_ids

    ids = token_ids(pipe.tokenizer, captions).to(pipe.device)
    return torch.cat([pipe.text_encoder(b)[0] for b in ids.split(500)])


def train_and_save(out_dir: str | Path | None = None, config: dict = CONFIG,
                   progress: bool = True) -> list[float]:
    """Distil the shipped data/sd_course into an LCM-LoRA and save it as out_dir/NAME.safetensors
    (diffusers' save_lora_weights, float16); configuration, losses and seconds go to
    out_dir/NAME.json."""
    from diffusers import StableDiffusionPipeline
    from peft.utils import get_peft_model_state_dict

    from course_lib.customise import add_lora
    from course_lib.sd_model import encode_latents, load_course_pipeline

    c = config
    out_dir = Path(out_dir or runtime.DATA_DIR)
    start = time.perf_counter()
    torch.manual_seed(c["seed"])
    pipe = load_course_pipeline(device="cpu")
    images, captions, _ = shapes.make_dataset(c["n_images"], seed=c["seed"] + 11)
    latents, text = encode_latents(pipe.vae, images), text_states(pipe, captions)
    empty = text_states(pipe, [""])
    add_lora(pipe.unet, c["rank"], c["alpha"], TARGETS)
    losses = train_lcm(pipe, latents, text, empty, c["steps"], c["batch_size"], c["lr"],
                       c["w"], c["ema"], c["original_steps"], c["seed"], progress)
    state = {k: v.half() for k, v in get_peft_model_state_dict(pipe.unet).items()}
    StableDiffusionPipeline.save_lora_weights(out_dir, unet_lora_layers=state,
                                              weight_name=f"{NAME}.safetensors")
    record = {"config": c, "targets": TARGETS, "losses": losses,
              "seconds": round(time.perf_counter() - start, 1)}
    (out_dir / f"{NAME}.json").write_text(json.dumps(record), encoding="utf-8")
    return losses


# --- 3. the student in diffusers' pipeline, and by hand ------------------------------------------
def load_student(folder: str | Path | None = None, device=None):
    """A second copy of data/sd_course with the LCM-LoRA loaded and fused, and diffusers'
    LCMScheduler: call it with guidance_scale=1 (the guidance is baked in)."""
    from course_lib.sd_model import load_course_pipeline

    pipe = load_course_pipeline(device)
    pipe.set_progress_bar_config(disable=True)
    path = Path(folder) / f"{NAME}.safetensors" if folder else runtime.data_path(
        f"{NAME}.safetensors")
    from diffusers.utils import logging as diffusers_logging

    level = diffusers_logging.get_verbosity()
    diffusers_logging.set_verbosity_error()  # "no LoRA keys for the text encoder": none meant
    try:
        pipe.load_lora_weights(path.parent, weight_name=path.name, adapter_name=NAME)
    finally:
        diffusers_logging.set_verbosity(level)
    pipe.fuse_lora()
    pipe.unload_lora_weights()  # the fused weights stay; the adapter layers go
    pipe.scheduler = lcm_scheduler(pipe.scheduler.config)
    return pipe


@torch.no_grad()
def lcm_latents(student, prompts: list[str], steps: int, seed: int = 0,
                generator: torch.Generator | None = None) -> torch.Tensor:
    """Latents (B, C, h, w) from the student pipeline by lcm_samples on LCMScheduler's
    timesteps for `steps` steps: the starting noise drawn first from the generator (seeded
    by `seed` unless given), as evaluation.sd_generate draws the teacher's."""
    from course_lib import sd_loop

    gen = generator if generator is not None else torch.Generator().manual_seed(seed)
    embeds = sd_loop.encode_prompt(student.tokenizer, student.text_encoder, prompts,
                                   [""] * len(prompts)).chunk(2)[1]
    sched = student.scheduler
    sched.set_timesteps(steps)
    c = student.unet.config
    x = torch.randn(len(prompts), c.in_channels, c.sample_size, c.sample_size, generator=gen)
    f = student_fn(student.unet, sched, embeds)
    xs = list(lcm_samples(lambda x_t, t: f(x_t, t), sched.timesteps.cpu(),
                          sched.alphas_cumprod, x.to(embeds.device, embeds.dtype), gen))
    return xs[-1]


@torch.no_grad()
def lcm_generate(student, prompts: list[str], steps: int, seed: int = 0,
                 batch_size: int = 200) -> torch.Tensor:
    """Images (B, 3, H, W) in [-1, 1] on the CPU from the student (lcm_latents), in batches
    drawn from one generator, as evaluation.sd_generate draws the teacher's."""
    from course_lib import sd_loop

    gen = torch.Generator().manual_seed(seed)
    out = [sd_loop.decode(student.vae, lcm_latents(student, prompts[i:i + batch_size], steps,
                                                   generator=gen)).float().cpu() * 2 - 1
           for i in range(0, len(prompts), batch_size)]
    return torch.cat(out)
