"""Notebook 02 (DDPM): alpha_bar, closed-form noising, the sigma bridge, posterior mean, step,
the ancestral sampling loop."""
NOTEBOOK = "02_ddpm"
# course_lib.ddpm imports the references from these files, and ddpm_step's cell calls
# ddpm.posterior_mean: loading the teaching module first makes that cycle resolve.
import course_lib.ddpm  # noqa: E402, F401
