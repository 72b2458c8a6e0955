"""The registry of graded exercises: every id, its notebook and its points, in course order.

Each exercise is one file in course_lib/exercises/nbXX/; this list is the only place that
names them all (notebooks not yet moved to one file per exercise still come from
course_lib/checks/).
"""
from __future__ import annotations

from course_lib.checking.judge import Exercise
from course_lib.checks import (
    customise,
    ddim,
    ddpm,
    guidance,
    latent,
    metrics,
    projection,
    stable_diffusion,
    unet,
)
from course_lib.exercises.nb00 import mse
from course_lib.exercises.nb01 import (
    add_noise,
    denoising_loss,
    predict_x0,
    sigma_embedding,
    sigma_schedule,
)

ONE_FILE = [  # in course order
    mse,
    sigma_schedule, add_noise, sigma_embedding, denoising_loss, predict_x0,
]
OLD_MODULES = [ddpm, ddim, projection, guidance, unet, latent, stable_diffusion, metrics,
               customise]
EXERCISES: dict[str, Exercise] = {
    ex.id: ex for ex in [m.EXERCISE for m in ONE_FILE] + [e for m in OLD_MODULES
                                                          for e in m.EXERCISES]}


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
