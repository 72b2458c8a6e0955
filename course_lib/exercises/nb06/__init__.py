"""Notebook 06 (a U-Net for images): GroupNorm, residual block, attention, attention over
pixels, the U-Net's forward pass."""
NOTEBOOK = "06_unet"
# The teaching module comes first: attention_2d's solution cell reads `unet`, and course_lib.unet
# imports the references from these files; so a fresh import of any exercise file works too.
import course_lib.unet  # noqa: E402, F401
