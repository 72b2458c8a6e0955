"""Notebook 08 (Stable Diffusion by hand): the prompt, one guided step, the loop, decoding."""
NOTEBOOK = "08_stable_diffusion"
