"""course_lib: the helper library behind the diffusion-models course notebooks.

Modules follow the syllabus: runtime (notebook 00), checking and checks (every notebook),
spiral, samplers and metrics2d (notebook 01 onwards), plotting (pictures everywhere).
"""
from course_lib.checking import CheckFailed, NotAttempted, check
from course_lib.runtime import (
    describe_device,
    fast_mode,
    get_device,
    pick,
    show_source,
    wants_training,
)

__all__ = [
    "CheckFailed", "NotAttempted", "check",
    "describe_device", "fast_mode", "get_device", "pick", "show_source", "wants_training",
]
