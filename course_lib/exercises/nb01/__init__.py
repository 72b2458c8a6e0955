"""Notebook 01 (the spiral): schedule, noising, sigma embedding, loss, the training loop,
x0 guess."""
NOTEBOOK = "01_spiral"
