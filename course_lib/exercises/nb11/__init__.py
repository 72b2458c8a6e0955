"""Notebook 11 (sampling in few steps), first half: DPM-Solver++ by hand in the sigma view,
its first-order step (DDIM again), its second-order multistep update, and its sampling loop."""
NOTEBOOK = "11_fewstep"
