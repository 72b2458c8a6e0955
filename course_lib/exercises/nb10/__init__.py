"""Notebook 10 (customising the model): LoRA, DreamBooth's loss, ControlNet, the watermark."""
NOTEBOOK = "10_customise"
# controlnet and safety re-export exercises of this folder, and these files use them (the probe
# ControlNet, watermark_score's solution cell): loading them first, here, lets either side be
# imported first without a circular-import error.
from course_lib import controlnet, safety  # noqa: E402, F401
