"""Exercise `generate_latents` (notebook 08): the pipeline's whole loop, in its phases."""
from __future__ import annotations

import copy
import functools

import torch

from course_lib.checking import Case, Props, exercise
from course_lib.exercises.common import draw, gen, pick
from course_lib.exercises.nb08.encode_prompt import encode_prompt
from course_lib.exercises.nb08.guided_step import guided_step
from course_lib.exercises.nb08.probes import (
    PROMPTS,
    TOL,
    probe_negatives,
    probe_pipeline,
    probe_pipeline_with,
    probe_prompts,
    worst_case,
)


# <solution cell>
@torch.no_grad()
def generate_latents(pipe, prompts: list, negative_prompts=None, steps: int = 25,
                     w: float = 7.5, generator=None) -> torch.Tensor:
    """The pipeline's loop by hand, in the phases of section 4, for B prompts (negative
    prompts default to ""): the final latents (B, C, h, w), as StableDiffusionPipeline
    makes them from the same arguments and generator."""
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


def _settings() -> dict[str, tuple]:
    """Each case compared with the pipeline: (scheduler: None for the probe's DDIM, or a
    class name and its config changes; prompts; negative prompts; steps; w; noise seed)."""
    two = probe_prompts(105, 2, PROMPTS)
    steps, w = pick(106, 4, 3, 5), pick(107, 4.0, 2.5, 6.0)
    # (not the cosine schedule: at t = 999 its alpha_bar is ~1e-9, x0 predictions explode)
    other_ddim = {"beta_schedule": pick(108, "linear", "scaled_linear"),
                  "beta_end": pick(122, 0.012, 0.02, 0.008),
                  "timestep_spacing": pick(109, "trailing", "linspace"),
                  "prediction_type": "v_prediction"}     # not the probe's (nor the notebook's)
    # seed3 and no_negative differ only in "" negative prompts given or left to their default:
    # the same seed must give the same latents (the negative prompts are tried in dpm, three)
    return {"seed3": (None, two, ["", ""], steps, w, 3),
            "no_negative": (None, two, None, steps, w, 3),
            "euler": (("EulerDiscreteScheduler", {}), probe_prompts(111, 1, PROMPTS[:1]), None,
                      pick(112, 5, 3, 4), pick(113, 3.0, 2.0, 5.0), 5),
            "dpm": (("DPMSolverMultistepScheduler", {}), probe_prompts(114, 2, PROMPTS),
                    probe_negatives(115, 2, ["green", ""]), pick(116, 5, 3, 4),
                    pick(117, 3.0, 4.5, 2.0), 6),
            "three": (("DDIMScheduler", other_ddim), probe_prompts(118, 3), probe_negatives(119, 3),
                      pick(120, 4, 3), pick(121, 5.0, 3.0, 8.0), 7)}


def _pipe(scheduler, base=None):
    """The probe pipeline with this scheduler: a fresh one, or (base given) base's components
    with a scheduler of its own (the checks copy each case before calling)."""
    if scheduler is None:
        return base or probe_pipeline()
    if base is None:
        return probe_pipeline_with(scheduler[0], **scheduler[1])
    import diffusers

    pipe = copy.copy(base)
    pipe.scheduler = getattr(diffusers, scheduler[0]).from_config(base.scheduler.config,
                                                                  **scheduler[1])
    return pipe


def cases() -> dict[str, Case]:
    base, out = probe_pipeline(), {}
    for name, (scheduler, prompts, neg, steps, w, seed) in _settings().items():
        pipe = _pipe(scheduler, base)
        # a pipeline that has run before: its scheduler holds that run's timesteps (a loop
        # that never sets its own runs those, not diffusers' 1,000 training steps)
        pipe.scheduler.set_timesteps(steps + 2)
        out[name] = Case((pipe, prompts, neg, steps, w, gen(seed)))
    return out


@functools.lru_cache(maxsize=4)
def _pipeline_latents(probe_draw: int) -> dict[str, tuple[torch.Tensor, str]]:
    """StableDiffusionPipeline(output_type='latent') on each case's settings, and in words."""
    out = {}
    for name, (scheduler, prompts, neg, steps, w, seed) in _settings().items():
        p = _pipe(scheduler)
        want = p(prompts, negative_prompt=neg, num_inference_steps=steps, guidance_scale=w,
                 generator=gen(seed), output_type="latent").images
        out[name] = want, (f"{type(p.scheduler).__name__}, {len(prompts)} prompt(s), "
                           f"{steps} steps, w = {w}")
    return out


PROPS = Props()


@PROPS
def _pipeline(outs, refs):
    """equals StableDiffusionPipeline on the same seed (DDIM, Euler, DPM-Solver++; 1 to 3 prompts)

    the pipeline's phases, in order: the prompts' embeddings (empty negative prompts when none
    are given); the scheduler you are given, prepared for this many steps; starting noise from
    the generator, scaled to the scheduler's starting noise level (1 for DDIM, far more for
    Euler); one guided step per timestep. The detail names the worst case

    code: pipe.scheduler.set_timesteps(steps, ...); noise of shape (len(prompts),
    pipe.unet.config.in_channels, size, size), size the U-Net's sample_size, times
    pipe.scheduler.init_noise_sigma; loop over pipe.scheduler.timesteps"""
    pipeline = _pipeline_latents(draw())
    worst, where = worst_case(outs, {name: want for name, (want, _) in pipeline.items()})
    where = pipeline[where][1]
    return worst < TOL, (f"max |your latents - StableDiffusionPipeline(output_type='latent')| "
                         f"= {worst:.1e}, allowed {TOL:.0e} (worst: {where})")


@PROPS
def _seed(outs, refs):
    """the same seed gives the same latents

    the starting noise comes from the generator you are given, so that a seed fixes the image;
    torch's global random state is neither used nor reset. (Probed with no negative prompts,
    once given as empty strings and once left to their default, which is the same thing)

    code: torch.randn(shape, generator=generator, dtype=...); no torch.manual_seed"""
    same = torch.allclose(outs["seed3"].value, outs["no_negative"].value, rtol=0, atol=TOL)
    return same, ("the same seed gives the same latents" if same else
                  "the same seed, with negative prompts [\"\", \"\"] or left out, gave "
                  "new latents")


def _unscaled_step(unet, sch, lat, t, emb, w):  # guided_step without scale_model_input
    eps_u, eps_c = unet(torch.cat([lat] * 2), t, encoder_hidden_states=emb).sample.chunk(2)
    return sch.step(eps_u + w * (eps_c - eps_u), t, lat).prev_sample


def _probe_ddim(scheduler):  # the probe's own DDIM settings, written into the loop
    from diffusers import DDIMScheduler

    return DDIMScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                         clip_sample=False, set_alpha_to_one=False, steps_offset=1)


def _loop(pipe, prompts, neg, steps, w, gen, use_neg=True, use_gen=True, w_shift=0.0,
          set_steps=True, init_sigma=True, w_fixed=None, steps_fixed=None, batch=None,
          step=guided_step, scheduler=None, reseed=False):
    neg = (neg if use_neg else None) or [""] * len(prompts)
    emb = encode_prompt(pipe.tokenizer, pipe.text_encoder, prompts, neg)
    sch = pipe.scheduler if scheduler is None else scheduler(pipe.scheduler)
    if set_steps:
        sch.set_timesteps(steps if steps_fixed is None else steps_fixed)
    if reseed:
        torch.manual_seed(0)
    lat = torch.randn((batch or len(prompts), 4, 8, 8), generator=gen if use_gen else None)
    lat = lat * sch.init_noise_sigma if init_sigma else lat
    for t in sch.timesteps:
        lat = step(pipe.unet, sch, lat, t, emb, (w if w_fixed is None else w_fixed) + w_shift)
    return lat


BUGS = {
    "ignores the negative prompt": lambda *a: _loop(*a, use_neg=False),
    "noise not from the generator": lambda *a: _loop(*a, use_gen=False),
    "guidance off by one": lambda *a: _loop(*a, w_shift=1.0),
    "never calls set_timesteps": lambda *a: _loop(*a, set_steps=False),
    "no init_noise_sigma (right for DDIM only)": lambda *a: _loop(*a, init_sigma=False),
    "[held] no scale_model_input (right for DDIM only)":
        lambda *a: _loop(*a, step=_unscaled_step),
    "[held] a fresh DDIMScheduler with the probe's settings":
        lambda *a: _loop(*a, scheduler=_probe_ddim),
    "[held] guidance scale fixed at 7.5": lambda *a: _loop(*a, w_fixed=7.5),
    "[held] 6 steps whatever steps says": lambda *a: _loop(*a, steps_fixed=6),
    "[held] noise for a batch of two": lambda *a: _loop(*a, batch=2),
    "[rng] reseeds torch's global RNG": lambda *a: _loop(*a, reseed=True),
}

EXERCISE = exercise(globals(), points=3,
                    summary="the whole loop, in the pipeline's phases",
                    proxies=("diffusers.StableDiffusionPipeline.__call__",),
                    reread="4. The whole loop, in the pipeline's phases")
