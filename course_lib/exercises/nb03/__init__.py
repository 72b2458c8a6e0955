"""Notebook 03 (DDIM): the timestep subsequence, the noise std, the update, the DDIM loop,
the sigma schedule."""
NOTEBOOK = "03_ddim"
