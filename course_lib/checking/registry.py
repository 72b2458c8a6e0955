"""The registry of graded exercises: every id, its notebook and its points, in course order.

Each exercise is one file in course_lib/exercises/nbXX/ (reference, probes, properties,
planted bugs, alternatives); this list is the one place that names them all.
"""
from __future__ import annotations

from course_lib.checking.exercise import Exercise
from course_lib.exercises.nb00 import mse
from course_lib.exercises.nb01 import (
    add_noise,
    denoising_loss,
    predict_x0,
    sigma_embedding,
    sigma_schedule,
    train_loop,
)
from course_lib.exercises.nb02 import (
    alpha_bar_to_sigma,
    alpha_bars,
    ddpm_samples,
    ddpm_step,
    posterior_mean,
    q_sample,
)
from course_lib.exercises.nb03 import (
    ddim_noise_std,
    ddim_samples,
    ddim_sigmas,
    ddim_step,
    ddim_timesteps,
)
from course_lib.exercises.nb04 import dist_K, gd_step, ge_direction, ideal_eps, proj_K, samples
from course_lib.exercises.nb05 import (
    adherence,
    cfg_denoise,
    cfg_eps,
    cond_train_step,
    drop_condition,
    guided_samples,
)
from course_lib.exercises.nb06 import (
    attention,
    attention_2d,
    group_norm,
    resblock_forward,
    unet_forward,
)
from course_lib.exercises.nb07 import (
    decode_latents,
    kl_divergence,
    reparameterize,
    t2i_train_step,
    tokenize,
)
from course_lib.exercises.nb08 import (
    decode,
    encode_prompt,
    generate_latents,
    guided_step,
    sdxl_encode_prompt,
    sdxl_time_ids,
)
from course_lib.exercises.nb09 import (
    clip_loss,
    clip_score,
    fid,
    frechet_distance,
    mmd2_unbiased,
)
from course_lib.exercises.nb10 import (
    controlled_unet,
    lora_forward,
    merge_lora,
    prior_preservation_loss,
    watermark_score,
)
from course_lib.exercises.nb11 import (
    consistency_fn,
    dpm_2m_step,
    dpm_first_order_step,
    dpm_solver_samples,
    lcm_samples,
    lcm_target,
)
from course_lib.exercises.nb12 import (
    adaln_zero,
    eps_from_velocity,
    euler_flow_samples,
    flow_loss,
    flow_path,
    modulate,
    patchify,
    unpatchify,
    velocity_from_denoiser,
)

MODULES = [  # in course order
    mse,
    sigma_schedule, add_noise, sigma_embedding, denoising_loss, train_loop, predict_x0,
    alpha_bars, q_sample, alpha_bar_to_sigma, posterior_mean, ddpm_step, ddpm_samples,
    ddim_timesteps, ddim_noise_std, ddim_step, ddim_samples, ddim_sigmas,
    dist_K, proj_K, ideal_eps, gd_step, ge_direction, samples,
    drop_condition, cond_train_step, cfg_eps, cfg_denoise, guided_samples, adherence,
    group_norm, resblock_forward, attention, attention_2d, unet_forward,
    reparameterize, kl_divergence, decode_latents, tokenize, t2i_train_step,
    encode_prompt, guided_step, generate_latents, decode, sdxl_encode_prompt, sdxl_time_ids,
    frechet_distance, fid, mmd2_unbiased, clip_loss, clip_score,
    lora_forward, merge_lora, prior_preservation_loss, controlled_unet, watermark_score,
    dpm_first_order_step, dpm_2m_step, dpm_solver_samples,
    consistency_fn, lcm_target, lcm_samples,
    flow_path, flow_loss, euler_flow_samples, eps_from_velocity, velocity_from_denoiser,
    patchify, unpatchify, modulate, adaln_zero,
]
EXERCISES: dict[str, Exercise] = {m.EXERCISE.id: m.EXERCISE for m in MODULES}


def get_exercise(exercise_id: str) -> Exercise:
    """Look up an exercise by id, with the list of valid ids when it is unknown."""
    try:
        return EXERCISES[exercise_id]
    except KeyError:
        raise KeyError(f"unknown exercise id {exercise_id!r}; known ids: "
                       f"{', '.join(EXERCISES)}") from None


def points_table() -> list[tuple[str, str, int]]:
    """(notebook, exercise id, points) for every exercise, in course order."""
    return [(ex.notebook, ex.id, ex.points) for ex in EXERCISES.values()]
