"""DDIM (Song, Meng & Ermon, 2021): the eta-family of updates on a subsequence of timesteps.

Introduced in notebook 03. eta = 0 is deterministic; eta = 1 has DDPM's posterior variance.
In the sigma view the eta = 0 step is x - (sigma - sigma_next) * eps_hat (notebook 01), so
`ddim_sigmas` turns a timestep subsequence into the sigma list for `samplers.samples`.
"""
from __future__ import annotations

# The notebook's exercises: each reference lives once, in its exercise file.
from course_lib.exercises.nb03.ddim_noise_std import ddim_noise_std
from course_lib.exercises.nb03.ddim_samples import ddim_samples
from course_lib.exercises.nb03.ddim_sigmas import ddim_sigmas
from course_lib.exercises.nb03.ddim_step import ddim_step
from course_lib.exercises.nb03.ddim_timesteps import ddim_timesteps

__all__ = ["ddim_noise_std", "ddim_samples", "ddim_sigmas", "ddim_step", "ddim_timesteps"]
