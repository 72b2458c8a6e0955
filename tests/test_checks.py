"""The checks are trustworthy: references pass, planted bugs fail, messages are plain words.

The planted bugs and correct alternatives come from each exercise's own file (BUGS and
ALTERNATIVES in course_lib/exercises/nbXX/<id>.py).
"""
import pytest
import torch

from course_lib import CheckFailed, NotAttempted, check
from course_lib.checking import evaluate
from course_lib.checking.registry import EXERCISES, get_exercise, points_table

PLANTED_BUGS = {e: ex.bugs for e, ex in EXERCISES.items() if ex.bugs}
ALTERNATIVES = {e: ex.alternatives for e, ex in EXERCISES.items() if ex.alternatives}


@pytest.mark.parametrize("exercise_id", list(EXERCISES))
def test_reference_passes(exercise_id, capsys):
    assert check(exercise_id, EXERCISES[exercise_id].reference) is None  # no repr in Jupyter
    assert "passed" in capsys.readouterr().out
    report = evaluate(EXERCISES[exercise_id], EXERCISES[exercise_id].reference)
    assert report.passed and report.score == EXERCISES[exercise_id].points


@pytest.mark.parametrize("exercise_id,name",
                         [(e, n) for e in ALTERNATIVES for n in ALTERNATIVES[e]])
def test_correct_alternative_forms_pass(exercise_id, name):
    report = evaluate(EXERCISES[exercise_id], ALTERNATIVES[exercise_id][name])
    assert report.passed, report.render()


def _stub(*args, **kwargs):
    raise NotImplementedError()


@pytest.mark.parametrize("exercise_id", list(EXERCISES))
def test_stub_is_not_attempted(exercise_id, capsys):
    with pytest.raises(NotAttempted):
        check(exercise_id, _stub)
    out = capsys.readouterr().out
    assert "not attempted yet" in out and "✗" not in out


def test_plain_word_messages():
    ex = get_exercise("add_noise")
    cases = {
        "None": (lambda x0, s, e: None, "returned None: did you forget `return`?"),
        "shape": (lambda x0, s, e: (x0 + s.reshape(-1, *[1] * (x0.dim() - 1)) * e)[:1],
                  "expected shape"),
        "dtype": (lambda x0, s, e: (x0 + s.reshape(-1, *[1] * (x0.dim() - 1)) * e).double(),
                  "expected dtype torch.float32, got torch.float64"),
        "nan": (lambda x0, s, e: x0 * float("nan"), "contains NaN or inf"),
        "numpy": (lambda x0, s, e: x0.numpy(), "got a numpy array"),
        "mutates": (PLANTED_BUGS["add_noise"]["modifies x0 in place"], "changed an input"),
        "raises": (lambda x0, s, e: x0 @ e, "RuntimeError"),
    }
    for name, (fn, words) in cases.items():
        report = evaluate(ex, fn)
        assert not report.passed, name
        text = report.render()
        assert words in text, (name, text)


def test_error_names_the_learners_line(tmp_path):
    src = tmp_path / "learner.py"
    src.write_text("def add_noise(x0, sigma, eps):\n    y = sigma * eps\n    return x0 + y\n")
    namespace = {}
    exec(compile(src.read_text(), str(src), "exec"), namespace)
    text = evaluate(get_exercise("add_noise"), namespace["add_noise"]).render()
    assert "at line 2: y = sigma * eps" in text, text


def test_check_rejects_non_functions_and_unknown_ids():
    with pytest.raises(CheckFailed, match="expected a function"):
        check("mse", 3.0)
    with pytest.raises(KeyError, match="known ids"):
        check("no_such_exercise", lambda: None)


def test_a_property_that_fails_does_not_hide_the_others():
    # sigma**2 breaks only the value comparisons; the sigma = 0 property still passes
    report = evaluate(get_exercise("add_noise"), PLANTED_BUGS["add_noise"]["sigma squared"])
    lines = {line.name: line.ok for line in report.lines}
    assert lines["sigma = 0 leaves x0 unchanged"]
    assert not report.passed


def test_jupyter_sees_one_line_not_a_traceback():
    err = CheckFailed("mse: 1 of 6 checks failed")
    assert err._render_traceback_() == ["CheckFailed: mse: 1 of 6 checks failed"]
    assert NotAttempted("x")._render_traceback_() == ["NotAttempted: x"]


def test_registry_points_table():
    table = points_table()
    assert [row[1] for row in table] == list(EXERCISES)
    assert all(points > 0 for _, _, points in table)
    assert sum(p for nb, _, p in table if nb == "01_spiral") == 14


def test_hints_only_on_lines_that_were_checked():
    text = evaluate(get_exercise("add_noise"), lambda x0, s, e: x0 + s[:, None] * e).render()
    lines = text.splitlines()
    skipped = [i for i, line in enumerate(lines) if "not checked" in line]
    assert skipped and "hint: the error names the failing line" in text
    for i in skipped:
        assert i + 1 == len(lines) or "hint:" not in lines[i + 1], text


def test_checks_leave_the_learners_rng_alone():
    torch.manual_seed(7)
    expected = torch.rand(3)
    torch.manual_seed(7)
    evaluate(get_exercise("denoising_loss"), get_exercise("denoising_loss").reference)
    assert torch.equal(torch.rand(3), expected)


def test_checks_do_not_depend_on_global_rng():
    ex = get_exercise("denoising_loss")
    torch.manual_seed(123)
    a = evaluate(ex, ex.reference).render()
    torch.manual_seed(456)
    b = evaluate(ex, ex.reference).render()
    assert a == b


def test_a_verdict_does_not_depend_on_what_ran_before():
    """Checks have no memory: the probe pipeline a check (or an answer) used is a fresh copy,
    so an answer that skips set_timesteps fails every time, not only the first time."""
    ex = get_exercise("generate_latents")
    bug = ex.bugs["never calls set_timesteps"]
    assert not evaluate(ex, bug).passed
    assert evaluate(ex, ex.reference).passed
    assert not evaluate(ex, bug).passed
