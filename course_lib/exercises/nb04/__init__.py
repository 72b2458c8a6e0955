"""Notebook 04 (projection): dist_K, proj_K, the ideal denoiser, a gradient step, GE direction,
the gradient-estimation sampling loop."""
NOTEBOOK = "04_projection"
