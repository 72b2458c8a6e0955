"""Notebook 08 (Stable Diffusion by hand): the prompt, one guided step, the loop, decoding."""
# sd_loop re-exports these exercises and generate_latents' solution cell calls sd_loop: loading
# sd_loop first, here, lets either side be imported first without a circular-import error.
from course_lib import sd_loop  # noqa: F401
