"""Exercise `generate_latents` (notebook 08): the pipeline's whole loop, in its phases."""
from __future__ import annotations

import torch

from course_lib.checking import Case, Props, exercise
from course_lib.exercises.nb08.encode_prompt import encode_prompt
from course_lib.exercises.nb08.guided_step import guided_step
from course_lib.exercises.nb08.probes import PROMPTS, TOL, probe_pipeline, probe_pipeline_with


# <solution cell>
@torch.no_grad()
def generate_latents(pipe, prompts: list, negative_prompts=None, steps: int = 25,
                     w: float = 7.5, generator=None) -> torch.Tensor:
    """The pipeline's loop by hand; returns the final latents."""
    ### BEGIN SOLUTION
    negative_prompts = negative_prompts or [""] * len(prompts)
    embeds = encode_prompt(pipe.tokenizer, pipe.text_encoder, prompts, negative_prompts)
    pipe.scheduler.set_timesteps(steps, device=embeds.device)
    size = pipe.unet.config.sample_size
    shape = (len(prompts), pipe.unet.config.in_channels, size, size)
    latents = torch.randn(shape, generator=generator, dtype=embeds.dtype).to(embeds.device)
    latents = latents * pipe.scheduler.init_noise_sigma
    for t in pipe.scheduler.timesteps:
        latents = guided_step(pipe.unet, pipe.scheduler, latents, t, embeds, w)
    return latents
    ### END SOLUTION
# </solution cell>


def cases() -> dict[str, Case]:
    p = probe_pipeline()
    args = (p, PROMPTS, ["", "green"], 6, 4.0)
    return {"seed3": Case(args + (torch.Generator().manual_seed(3),)),
            "seed3_again": Case(args + (torch.Generator().manual_seed(3),)),
            "no_negative": Case((p, PROMPTS, None, 6, 4.0, torch.Generator().manual_seed(3))),
            "euler": Case((_other("EulerDiscreteScheduler"), PROMPTS[:1], None, 5, 3.0,
                           torch.Generator().manual_seed(5))),
            "dpm": Case((_other("DPMSolverMultistepScheduler"), PROMPTS, ["green", ""], 5, 3.0,
                         torch.Generator().manual_seed(6)))}


def _other(name: str):
    return probe_pipeline_with(name)


WANT = {"seed3": (PROMPTS, ["", "green"], 6, 4.0, 3), "no_negative": (PROMPTS, None, 6, 4.0, 3),
        "euler": (PROMPTS[:1], None, 5, 3.0, 5), "dpm": (PROMPTS, ["green", ""], 5, 3.0, 6)}


PROPS = Props()


@PROPS("equals StableDiffusionPipeline on the same seed",
       "phases: encode ('' when no negative prompt); scheduler.set_timesteps(steps); "
       "latents = torch.randn(shape, generator=generator) * "
       "scheduler.init_noise_sigma (1 for DDIM, far more for Euler); loop "
       "guided_step over scheduler.timesteps")
def _pipeline(outs, refs):
    worst, where = 0.0, ""
    for name, (prompts, neg, steps, w, seed) in WANT.items():
        p = {"euler": lambda: _other("EulerDiscreteScheduler"),
             "dpm": lambda: _other("DPMSolverMultistepScheduler")}.get(name, probe_pipeline)()
        want = p(prompts, negative_prompt=neg, num_inference_steps=steps, guidance_scale=w,
                 generator=torch.Generator().manual_seed(seed), output_type="latent").images
        diff = (outs[name].value - want).abs().max().item()
        if diff >= worst:
            worst, where = diff, f"{type(p.scheduler).__name__}, {steps} steps, w = {w}"
    return worst < TOL, (f"max |your latents - StableDiffusionPipeline(output_type='latent')| "
                         f"= {worst:.1e}, allowed {TOL:.0e} (worst: {where})")


@PROPS("the same seed gives the same latents",
       "draw the initial noise from the generator you are given")
def _seed(outs, refs):
    same = torch.equal(outs["seed3"].value, outs["seed3_again"].value)
    return same, "the same seed gives the same latents" if same else "same seed, new latents"


def _loop(pipe, prompts, neg, steps, w, gen, use_neg=True, use_gen=True, w_shift=0.0,
          set_steps=True, init_sigma=True):
    neg = (neg if use_neg else None) or [""] * len(prompts)
    emb = encode_prompt(pipe.tokenizer, pipe.text_encoder, prompts, neg)
    if set_steps:
        pipe.scheduler.set_timesteps(steps)
    lat = torch.randn((len(prompts), 4, 8, 8), generator=gen if use_gen else None)
    lat = lat * pipe.scheduler.init_noise_sigma if init_sigma else lat
    for t in pipe.scheduler.timesteps:
        lat = guided_step(pipe.unet, pipe.scheduler, lat, t, emb, w + w_shift)
    return lat


BUGS = {
    "ignores the negative prompt": lambda *a: _loop(*a, use_neg=False),
    "noise not from the generator": lambda *a: _loop(*a, use_gen=False),
    "guidance off by one": lambda *a: _loop(*a, w_shift=1.0),
    "never calls set_timesteps": lambda *a: _loop(*a, set_steps=False),
    "no init_noise_sigma (right for DDIM only)": lambda *a: _loop(*a, init_sigma=False),
}

def _pipeline_call() -> tuple:
    from diffusers import StableDiffusionPipeline

    return (StableDiffusionPipeline.__call__,)


EXERCISE = exercise(globals(), points=3,
                    summary="the whole loop, in the pipeline's phases", proxies=_pipeline_call)
