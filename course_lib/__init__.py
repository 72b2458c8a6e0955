"""course_lib: the helper library behind the diffusion-models course notebooks.

The book (what the notebooks import and you may read), by the notebook that introduces it:

    00  runtime      device, fast mode, data paths          checking.check  the check cells
    01  spiral       the 2D toy and its MLP denoiser        diffusion   sigma view: noising,
        samplers     the one (gam, mu) sampling loop            levels (Schedule), loss,
        fit          the one training loop                      train_denoiser
        artefacts    load("judge"), load("spiral"), ...     metrics2d, plotting  pictures
    02  ddpm         beta schedules, alpha_bar, posterior   03  ddim   timesteps, eta update
    04  projection   dist_K, proj_K, the ideal denoiser     05  guidance  labels, guided()
    06  shapes, unet, judge   images, the U-Net, the judge  07  vae, text, latent
    08  sd_model, bpe, sd_loop, sd_weights, bridge   Stable Diffusion taken apart; bridge is
        the one sigma <-> timestep wrapper of a diffusers U-Net for the course's samplers;
        sdxl_model, sdxl_loop: the course model grown into SDXL's shape, SDXL by hand
    09  metrics, features, clip, evaluation          FID, KID, CLIP score
    10  customise, controlnet, new_shape, safety     LoRA, DreamBooth, ControlNet, filters
    11  fewstep      the probability-flow ODE, DPM-Solver++ by hand
    12  flow         flow matching: straight paths, velocities, Euler, reflow

Each exercise is one file in exercises/nbNN/<id>.py (its solution cell is the one copy of the
reference, which the modules above re-export). The machine lives apart: checking/ (probe,
judge and the generic lines, registry), build/ (solutions -> student notebooks; colab.py
writes each notebook's Colab cell), grade/ (the class grader, its sandbox, the Gradescope
export, shards), train/ (the commands that make data/), bench/ (figures for the README).
"""
from course_lib.checking import CheckFailed, NotAttempted, check
from course_lib.runtime import (
    describe_device,
    fast_mode,
    get_device,
    pick,
    show_source,
    wants_training,
)

__all__ = [
    "CheckFailed", "NotAttempted", "check",
    "describe_device", "fast_mode", "get_device", "pick", "show_source", "wants_training",
]
