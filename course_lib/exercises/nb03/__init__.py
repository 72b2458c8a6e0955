"""Notebook 03 (DDIM): the timestep subsequence, the noise std, the update, the sigma schedule."""
# course_lib.ddim imports the references from these files, and ddim_step's cell calls
# ddim.ddim_noise_std: loading the teaching module first makes that cycle resolve.
import course_lib.ddim  # noqa: F401
