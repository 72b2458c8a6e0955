"""The picture under a failed check: which case it draws and how, for points, images and
curves; nothing for a pass or for outputs that are not drawable."""
import matplotlib
import pytest
import torch

from course_lib.checking import evaluate, picture
from course_lib.checking.registry import get_exercise

matplotlib.use("Agg")


@pytest.mark.parametrize("exercise_id, bug, how", [
    ("sigma_schedule", "linear spacing", "curve"),
    ("ddim_samples", "steps to t - 1 instead of the next timestep", "points"),
    ("decode_latents", "multiplies by the scale", "image"),
])
def test_a_failing_answer_gets_a_picture_of_its_first_differing_case(exercise_id, bug, how):
    ex = get_exercise(exercise_id)
    report = evaluate(ex, ex.bugs[bug])
    assert not report.passed
    name = picture.failed_case(report.lines)
    assert name is not None
    outs, refs = report.outcomes
    assert picture.kind(refs[name].value, outs[name].value) == how
    fig = picture.figure(name, refs[name].value, outs[name].value)
    words = [ax.get_title() for ax in fig.axes] + \
        [label for ax in fig.axes for label in ax.get_legend_handles_labels()[1]]
    assert "reference" in words and "yours" in words and name in fig.texts[0].get_text()


def test_nothing_is_drawn_for_a_pass_or_a_scalar():
    ex = get_exercise("mse")
    report = evaluate(ex, ex.reference)
    assert report.passed and picture.failed_case(report.lines) is None
    assert picture.kind(torch.tensor(1.0), torch.tensor(2.0)) is None
    assert picture.kind(torch.zeros(3, 2), torch.zeros(4, 2)) is None  # shapes differ
    assert picture.figure("x", torch.zeros(2, 3), torch.ones(2, 3)) is None
    assert picture.kind(torch.zeros(1, 6, 3), torch.zeros(1, 6, 3)) is None  # 18 numbers: lines
    assert picture.kind(torch.zeros(4, 4), None) is None
