"""Notebook 01 (the spiral): schedule, noising, sigma embedding, loss, x0 guess."""
NOTEBOOK = "01_spiral"
