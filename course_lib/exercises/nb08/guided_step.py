"""Exercise `guided_step` (notebook 08): one classifier-free guided denoising step."""
from __future__ import annotations

import torch

from course_lib.checking import Case, Props, close, exercise
from course_lib.exercises.nb08.encode_prompt import encode_prompt
from course_lib.exercises.nb08.probes import PROMPTS, TOL, probe_pipeline, probe_pipeline_with


# <solution cell>
@torch.no_grad()
def guided_step(unet, scheduler, latents, t, embeds, w: float) -> torch.Tensor:
    """One guided denoising step; returns the next latents."""
    ### BEGIN SOLUTION
    latent_in = scheduler.scale_model_input(torch.cat([latents] * 2), t)
    eps_uncond, eps_text = unet(latent_in, t, encoder_hidden_states=embeds).sample.chunk(2)
    eps = eps_uncond + w * (eps_text - eps_uncond)
    return scheduler.step(eps, t, latents).prev_sample
    ### END SOLUTION
# </solution cell>


def cases() -> dict[str, Case]:
    p = probe_pipeline()
    embeds = encode_prompt(p.tokenizer, p.text_encoder, PROMPTS, ["", ""])
    p.scheduler.set_timesteps(10)
    t = p.scheduler.timesteps[3]
    latents = torch.randn(2, 4, 8, 8, generator=torch.Generator().manual_seed(81))
    e = probe_pipeline_with("EulerDiscreteScheduler")
    e.scheduler.set_timesteps(10)
    t_e = e.scheduler.timesteps[3]
    x_e = latents[:1] * e.scheduler.sigmas[3]                  # a batch of one, at Euler's scale
    one = encode_prompt(e.tokenizer, e.text_encoder, PROMPTS[1:], [""])
    return {"w5": Case((p.unet, p.scheduler, latents, t, embeds, 5.0)),
            "w1": Case((p.unet, p.scheduler, latents, t, embeds, 1.0)),
            "euler": Case((e.unet, e.scheduler, x_e, t_e, one, 3.0))}


PROPS = Props()


@PROPS("w = 1 is a step with the prompt alone",
       "eps = eps_u + w * (eps_c - eps_u), the chunk order (uncond, text)")
def _w1(outs, refs):
    unet, scheduler, latents, t, embeds, _ = cases()["w1"].args
    with torch.no_grad():
        x_in = scheduler.scale_model_input(latents, t)
        eps = unet(x_in, t, encoder_hidden_states=embeds[2:]).sample
        want = scheduler.step(eps, t, latents).prev_sample
    diff = (outs["w1"].value - want).abs().max().item()
    return diff < TOL, f"w = 1 vs a step with the prompt alone: max diff {diff:.1e}"


def _step(unet, sch, lat, t, emb, w, swap=False, scale_cond_only=False, scale_input=True):
    x_in = torch.cat([lat] * 2)
    x_in = sch.scale_model_input(x_in, t) if scale_input else x_in
    eps_u, eps_c = unet(x_in, t, encoder_hidden_states=emb).sample.chunk(2)
    if swap:
        eps_u, eps_c = eps_c, eps_u
    eps = w * eps_c if scale_cond_only else eps_u + w * (eps_c - eps_u)
    return sch.step(eps, t, lat).prev_sample


BUGS = {
    "chunks swapped": lambda *a: _step(*a, swap=True),
    "scales the conditional only": lambda *a: _step(*a, scale_cond_only=True),
    "no scale_model_input (right for DDIM only)": lambda *a: _step(*a, scale_input=False),
    "returns eps, not latents": lambda unet, sch, lat, t, emb, w: unet(
        torch.cat([lat] * 2), t, encoder_hidden_states=emb).sample.chunk(2)[1],
}

PROPS("matches the reference at w = 5",
      "scheduler.scale_model_input(torch.cat([latents] * 2), t) before the U-Net; "
      "unet(x, t, encoder_hidden_states=embeds).sample; scheduler.step(eps, t, "
      "latents).prev_sample",
      close("w5"))

PROPS("matches the reference with an Euler scheduler, batch of one",
      "Euler works on x_t scaled by sqrt(sigma^2 + 1): the U-Net must see "
      "scheduler.scale_model_input(...) of the latents, not the latents themselves",
      close("euler"))

EXERCISE = exercise(globals(), points=2, summary="one guided denoising step")
