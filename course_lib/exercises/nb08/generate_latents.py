"""Exercise `generate_latents` (notebook 08): the pipeline's whole loop, in its phases."""
from __future__ import annotations

import torch

from course_lib import sd_loop
from course_lib.checking import Case, Exercise, Prop
from course_lib.exercises.nb08.encode_prompt import encode_prompt
from course_lib.exercises.nb08.guided_step import guided_step
from course_lib.exercises.nb08.probes import PROMPTS, TOL, probe_pipeline


# <solution cell>
@torch.no_grad()
def generate_latents(pipe, prompts: list, negative_prompts=None, steps: int = 25,
                     w: float = 7.5, generator=None) -> torch.Tensor:
    """The pipeline's loop by hand; returns the final latents."""
    ### BEGIN SOLUTION
    negative_prompts = negative_prompts or [""] * len(prompts)
    embeds = sd_loop.encode_prompt(pipe.tokenizer, pipe.text_encoder, prompts, negative_prompts)
    pipe.scheduler.set_timesteps(steps, device=embeds.device)
    size = pipe.unet.config.sample_size
    shape = (len(prompts), pipe.unet.config.in_channels, size, size)
    latents = torch.randn(shape, generator=generator, dtype=embeds.dtype).to(embeds.device)
    latents = latents * pipe.scheduler.init_noise_sigma
    for t in pipe.scheduler.timesteps:
        latents = sd_loop.guided_step(pipe.unet, pipe.scheduler, latents, t, embeds, w)
    return latents
    ### END SOLUTION
# </solution cell>


def cases() -> dict[str, Case]:
    p = probe_pipeline()
    args = (p, PROMPTS, ["", "green"], 6, 4.0)
    return {"seed3": Case(args + (torch.Generator().manual_seed(3),)),
            "seed3_again": Case(args + (torch.Generator().manual_seed(3),)),
            "no_negative": Case((p, PROMPTS, None, 6, 4.0, torch.Generator().manual_seed(3)))}


def _pipeline(outs, refs):
    p = probe_pipeline()
    worst = 0.0
    for name, neg in (("seed3", ["", "green"]), ("no_negative", None)):
        want = p(PROMPTS, negative_prompt=neg, num_inference_steps=6, guidance_scale=4.0,
                 generator=torch.Generator().manual_seed(3), output_type="latent").images
        worst = max(worst, (outs[name].value - want).abs().max().item())
    return worst < TOL, (f"max |your latents - StableDiffusionPipeline(output_type='latent')| "
                         f"= {worst:.1e}, allowed {TOL:.0e} (same seed, scheduler, 6 steps, w = 4)")


def _seed(outs, refs):
    same = torch.equal(outs["seed3"].value, outs["seed3_again"].value)
    return same, "the same seed gives the same latents" if same else "same seed, new latents"


def _loop(pipe, prompts, neg, steps, w, gen, use_neg=True, use_gen=True, w_shift=0.0,
          set_steps=True):
    neg = (neg if use_neg else None) or [""] * len(prompts)
    emb = encode_prompt(pipe.tokenizer, pipe.text_encoder, prompts, neg)
    if set_steps:
        pipe.scheduler.set_timesteps(steps)
    lat = torch.randn((len(prompts), 4, 8, 8), generator=gen if use_gen else None)
    lat = lat * pipe.scheduler.init_noise_sigma
    for t in pipe.scheduler.timesteps:
        lat = guided_step(pipe.unet, pipe.scheduler, lat, t, emb, w + w_shift)
    return lat


BUGS = {
    "ignores the negative prompt": lambda *a: _loop(*a, use_neg=False),
    "noise not from the generator": lambda *a: _loop(*a, use_gen=False),
    "guidance off by one": lambda *a: _loop(*a, w_shift=1.0),
    "never calls set_timesteps": lambda *a: _loop(*a, set_steps=False),
}

def _pipeline_call() -> tuple:
    from diffusers import StableDiffusionPipeline

    return (StableDiffusionPipeline.__call__,)


EXERCISE = Exercise(
    id="generate_latents", notebook="08_stable_diffusion", points=3, reference=generate_latents,
    cases=cases, file=__file__, summary="the whole loop, in the pipeline's phases",
    props=[
        Prop("the same seed gives the same latents", _seed,
             "draw the initial noise from the generator you are given"),
        Prop("equals StableDiffusionPipeline on the same seed", _pipeline,
             "phases: encode ('' when no negative prompt); scheduler.set_timesteps(steps); "
             "latents = torch.randn(shape, generator=generator) * "
             "scheduler.init_noise_sigma; loop guided_step over scheduler.timesteps"),
    ],
    proxies=_pipeline_call,
    bugs=BUGS,
)
