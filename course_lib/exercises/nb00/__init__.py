"""Notebook 00 (welcome): the warm-up exercise that shows how checks work."""
NOTEBOOK = "00_welcome"
