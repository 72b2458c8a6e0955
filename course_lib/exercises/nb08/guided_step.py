"""Exercise `guided_step` (notebook 08): one classifier-free guided denoising step."""
from __future__ import annotations

import copy
import functools

import torch

from course_lib.checking import Case, Props, close, exercise
from course_lib.exercises.common import draw, gen, pick
from course_lib.exercises.nb08.encode_prompt import encode_prompt
from course_lib.exercises.nb08.probes import (
    PROMPTS,
    TOL,
    probe_negatives,
    probe_pipeline,
    probe_prompts,
)


# <solution cell>
@torch.no_grad()
def guided_step(unet, scheduler, latents, t, embeds, w: float) -> torch.Tensor:
    """One classifier-free guided step at timestep t (section 3): latents (B, C, h, w),
    embeds (2B, 77, D) from encode_prompt, guidance scale w. Returns the next latents."""
    ### BEGIN SOLUTION
    latent_in = scheduler.scale_model_input(torch.cat([latents] * 2), t)
    eps_uncond, eps_text = unet(latent_in, t, encoder_hidden_states=embeds).sample.chunk(2)
    eps = eps_uncond + w * (eps_text - eps_uncond)
    return scheduler.step(eps, t, latents).prev_sample
    ### END SOLUTION
# </solution cell>


@functools.lru_cache(maxsize=4)
def _pristine(probe_draw: int) -> dict:
    """The probes' U-Net, schedulers and inputs, built once per draw (cases() copies them):
    DDIM at step i of n; Euler (where scale_model_input matters) at the same step, a batch of
    one; DPM-Solver++ (multistep: it remembers its last outputs) k steps into a run, with an
    odd batch of three prompts and their negative prompts."""
    from diffusers import DPMSolverMultistepScheduler, EulerDiscreteScheduler

    p = probe_pipeline()
    tok, enc, unet = p.tokenizer, p.text_encoder, p.unet
    n, i = pick(92, 10, 8, 12, 15), pick(93, 3, 1, 2, 5)
    embeds = encode_prompt(tok, enc, probe_prompts(94, 2, PROMPTS), ["", ""])
    ddim = p.scheduler
    ddim.set_timesteps(n)
    latents = torch.randn(2, 4, 8, 8, generator=gen(81))
    euler = EulerDiscreteScheduler.from_config(ddim.config)
    euler.set_timesteps(n)
    x_e = latents[:1] * euler.sigmas[i]                   # a batch of one, at Euler's scale
    one = encode_prompt(tok, enc, probe_prompts(95, 1, PROMPTS[1:]), [""])
    dpm = DPMSolverMultistepScheduler.from_config(
        ddim.config, beta_schedule=pick(96, "linear", "scaled_linear"),  # not cosine: its
        beta_end=pick(105, 0.012, 0.02, 0.008))                          # t = 999 explodes
    dpm.set_timesteps(pick(97, 8, 6, 10))
    three = encode_prompt(tok, enc, probe_prompts(98, 3), probe_negatives(99, 3))
    w_dpm, k = pick(100, 4.0, 2.5, 6.0), pick(101, 2, 1, 3)
    x_d = torch.randn(3, 4, 8, 8, generator=gen(102)) * dpm.init_noise_sigma
    for t in dpm.timesteps[:k]:                           # the run so far
        x_d = guided_step(unet, dpm, x_d, t, three, w_dpm)
    return dict(unet=unet, ddim=ddim, latents=latents, t=ddim.timesteps[i], embeds=embeds,
                euler=euler, x_e=x_e, t_e=euler.timesteps[i], one=one,
                dpm=dpm, x_d=x_d, t_d=dpm.timesteps[k], three=three, w_dpm=w_dpm)


def cases() -> dict[str, Case]:
    v = copy.deepcopy(_pristine(draw()))
    unet, ddim = v["unet"], v["ddim"]
    return {"w5": Case((unet, ddim, v["latents"], v["t"], v["embeds"],
                        pick(103, 5.0, 3.5, 6.0, 2.5))),
            "w1": Case((unet, ddim, v["latents"], v["t"], v["embeds"], 1.0)),
            "euler": Case((unet, v["euler"], v["x_e"], v["t_e"], v["one"],
                           pick(104, 3.0, 2.0, 4.5))),
            "dpm_mid_run": Case((unet, v["dpm"], v["x_d"], v["t_d"], v["three"], v["w_dpm"]))}


@functools.lru_cache(maxsize=4)
def _prompt_alone(probe_draw: int) -> torch.Tensor:
    """The w = 1 case's step taken with the prompt's half of the batch alone."""
    unet, scheduler, latents, t, embeds, _ = cases()["w1"].args
    with torch.no_grad():
        x_in = scheduler.scale_model_input(latents, t)
        eps = unet(x_in, t, encoder_hidden_states=embeds[len(latents):]).sample
        return scheduler.step(eps, t, latents).prev_sample


PROPS = Props()


@PROPS
def _w1(outs, refs):
    """w = 1 is a step with the prompt alone

    the guided prediction starts from the unconditional one and moves w times the way to the
    prompt's, so at w = 1 it is the prompt's own; the U-Net's output comes back in the order of
    its input, unconditional half first

    code: split the U-Net's .sample into halves with .chunk(2), unconditional first (not
    interleaved rows); combine them with w as in notebook 05"""
    diff = (outs["w1"].value - _prompt_alone(draw())).abs().max().item()
    return diff < TOL, f"w = 1 vs a step with the prompt alone: max diff {diff:.1e}"


def _step(unet, sch, lat, t, emb, w, swap=False, scale_cond_only=False, scale_input=True,
          interleaved=False, eps_dtype=None):
    x_in = torch.cat([lat] * 2)
    x_in = sch.scale_model_input(x_in, t) if scale_input else x_in
    out = unet(x_in, t, encoder_hidden_states=emb).sample
    eps_u, eps_c = (out[0::2], out[1::2]) if interleaved else out.chunk(2)
    if swap:
        eps_u, eps_c = eps_c, eps_u
    eps = w * eps_c if scale_cond_only else eps_u + w * (eps_c - eps_u)
    return sch.step(eps if eps_dtype is None else eps.to(eps_dtype), t, lat).prev_sample


def _fresh_copy(unet, sch, lat, t, emb, w, cls=None):
    """Steps a scheduler built anew from the given one's config (its class, or cls)."""
    fresh = (cls or type(sch)).from_config(sch.config)
    fresh.set_timesteps(len(sch.timesteps))
    return _step(unet, fresh, lat, t, emb, w)


def _ddim_from_config(unet, sch, lat, t, emb, w):
    from diffusers import DDIMScheduler

    return _fresh_copy(unet, sch, lat, t, emb, w, cls=DDIMScheduler)


def _resets(unet, sch, lat, t, emb, w):
    sch.set_timesteps(len(sch.timesteps))
    return _step(unet, sch, lat, t, emb, w)


def _trains(unet, sch, lat, t, emb, w):
    unet.train()  # a training loop's habit: same numbers here, but the caller's U-Net changes
    return _step(unet, sch, lat, t, emb, w)


BUGS = {
    "chunks swapped": lambda *a: _step(*a, swap=True),
    "scales the conditional only": lambda *a: _step(*a, scale_cond_only=True),
    "no scale_model_input (right for DDIM only)": lambda *a: _step(*a, scale_input=False),
    "returns eps, not latents": lambda unet, sch, lat, t, emb, w: unet(
        torch.cat([lat] * 2), t, encoder_hidden_states=emb).sample.chunk(2)[1],
    "[held] guidance scale fixed at 7.5": lambda unet, sch, lat, t, emb, w: _step(
        unet, sch, lat, t, emb, 7.5),
    "[held] halves interleaved (right for a batch of one only)":
        lambda *a: _step(*a, interleaved=True),
    "[held] a DDIMScheduler built from the given one's config": _ddim_from_config,
    "[held] a fresh scheduler of the same kind (loses DPM-Solver++'s history)": _fresh_copy,
    "[mutates] calls set_timesteps again (resets the scheduler's run)": _resets,
    "[mutates] leaves the caller's U-Net in train mode": _trains,
    "[dtype] guidance computed in float32": lambda *a: _step(*a, eps_dtype=torch.float32),
}

PROPS("""matches the reference at w = 5

      the latents are doubled (one copy per embedding) and scaled for the scheduler before the
      U-Net; the guided prediction is not the answer: the scheduler's step turns it into the
      next latents

      code: scheduler.scale_model_input on the doubled latents; unet(..., t,
      encoder_hidden_states=embeds).sample; return scheduler.step(...).prev_sample""",
      close("w5"))

PROPS("""matches the reference with an Euler scheduler, batch of one

      Euler's latents are at noise level sigma, and the U-Net expects them divided by the square
      root of sigma squared plus one: the scheduler's scaled model input, not the latents
      themselves (for DDIM that scaling does nothing, so only Euler shows it)

      code: feed the U-Net scheduler.scale_model_input(..., t); step with the unscaled latents""",
      close("euler"))

PROPS("""continues a DPM-Solver++ run: an odd batch, negative prompts, its own history

      a multistep scheduler combines this prediction with those it kept from the run's earlier
      steps: step the scheduler you are given, as it is; one built or reset inside the step has
      no history

      code: no set_timesteps and no from_config inside guided_step; call step on the scheduler
      argument""",
      close("dpm_mid_run"))

EXERCISE = exercise(globals(), points=2, summary="one guided denoising step",
                    reread="3. Timesteps, starting noise, one guided step")
