"""Notebook 11 (sampling in few steps): DPM-Solver++ by hand in the sigma view, its first-order
step (DDIM again), its second-order multistep update and its sampling loop; then latent
consistency distillation: the consistency function's boundary scalings, the distillation
target, and multistep consistency sampling."""
NOTEBOOK = "11_fewstep"
