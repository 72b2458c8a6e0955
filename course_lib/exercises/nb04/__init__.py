"""Notebook 04 (projection): dist_K, proj_K, the ideal denoiser, a gradient step, GE direction."""
# course_lib.projection imports the references from these files, and gd_step's cell calls
# projection.proj_K: loading the teaching module first makes that cycle resolve.
import course_lib.projection  # noqa: F401
