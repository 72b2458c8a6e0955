"""Notebook 04 (projection): dist_K, proj_K, the ideal denoiser, a gradient step, GE direction."""
NOTEBOOK = "04_projection"
