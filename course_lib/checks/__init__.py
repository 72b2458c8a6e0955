"""The registry of graded exercises: every id, its notebook and its points, in course order.

Each notebook's exercises live in their own module here; this file only collects them.
"""
from __future__ import annotations

from course_lib.checking import Exercise
from course_lib.checks import (
    customise,
    ddim,
    ddpm,
    guidance,
    latent,
    metrics,
    projection,
    spiral,
    stable_diffusion,
    unet,
    welcome,
)

MODULES = [welcome, spiral, ddpm, ddim, projection, guidance, unet, latent,  # in course order
           stable_diffusion, metrics, customise]
EXERCISES: dict[str, Exercise] = {ex.id: ex for m in MODULES for ex in m.EXERCISES}


def get_exercise(exercise_id: str) -> Exercise:
    """Look up an exercise by id, with the list of valid ids when it is unknown."""
    try:
        return EXERCISES[exercise_id]
    except KeyError:
        raise KeyError(f"unknown exercise id {exercise_id!r}; known ids: "
                       f"{', '.join(EXERCISES)}") from None


def points_table() -> list[tuple[str, str, int]]:
    """(notebook, exercise id, points) for every exercise, in course order."""
    return [(ex.notebook, ex.id, ex.points) for ex in EXERCISES.values()]
