"""The exercise checker: probe a learner's function, judge what came out, print why.

Introduced in notebook 00; every check cell calls `check(exercise_id, fn)`. Probing (probe.py:
calling the function on seeded inputs) and judging (judge.py: comparing plain outputs with the
reference) are separate steps, so the class grader can probe in a sandboxed process and judge
in its own. The exercises themselves live one per file in course_lib/exercises/; registry.py
lists them in course order, and exercise.py says what each one declares.
"""
from __future__ import annotations

import copy
from collections.abc import Callable

from course_lib.checking import picture
from course_lib.checking.exercise import (
    Exercise,
    Prop,
    Props,
    close,
    equals,
    equals_input,
    exercise,
    is_zero,
)
from course_lib.checking.judge import Report, form_problem, judge
from course_lib.checking.line import FAIL, PASS, Line, describe
from course_lib.checking.probe import Case, Outcome, run_case, run_cases
from course_lib.checking.reuse import failing_earlier_answers, swapped

__all__ = ["FAIL", "PASS", "Case", "CheckFailed", "Exercise", "Line", "NotAttempted", "Outcome",
           "Prop", "Props", "Report", "check", "close", "describe", "equals", "equals_input",
           "evaluate", "exercise", "form_problem", "is_zero", "judge", "run_case", "run_cases"]


class CheckFailed(AssertionError):
    """Raised by a failing check. Shows one line in Jupyter instead of a traceback."""

    def _render_traceback_(self):  # IPython prints this instead of the stack
        return [f"{type(self).__name__}: {self}"]


class NotAttempted(CheckFailed):
    """Raised when the exercise is still the stub (it raises NotImplementedError)."""


_REFERENCE_RUNS: dict[tuple, dict[str, Outcome]] = {}


def reference_outcomes(ex: Exercise) -> dict[str, Outcome]:
    """The reference's outcomes on the probes of the draw in force. The reference and its
    seeded cases are fixed, so they are computed once per kernel and draw; each check gets
    its own copy. (The learner's answer always runs on freshly built cases.)"""
    from course_lib.exercises.common import draw

    key = (ex.id, id(ex.reference), draw())
    if key not in _REFERENCE_RUNS:
        _REFERENCE_RUNS[key] = run_cases(ex.probed(ex.reference), ex.probe_cases())
    return copy.deepcopy(_REFERENCE_RUNS[key])


def evaluate(ex: Exercise, fn: Callable, _seen: frozenset = frozenset()) -> Report:
    """Probe fn and the reference on fresh copies of the same cases, then judge. Earlier
    answers that fn calls and that fail their own check are replaced by their references
    while fn is probed, and the report says so (checking/reuse.py)."""
    from course_lib.checking.registry import EXERCISES

    swaps = failing_earlier_answers(ex, fn, EXERCISES, _seen)
    with swapped(fn, swaps):
        outs = run_cases(ex.probed(fn), ex.probe_cases(), ex.watch())
    if any(o.not_implemented for o in outs.values()):  # the stub: nothing to compare yet
        return Report(ex, [], not_attempted=True)
    refs = reference_outcomes(ex)
    report = judge(ex, outs, refs)
    report.outcomes = (outs, refs)
    report.notes += [f"your {name} does not pass its check yet, so this check ran yours with "
                     f"the course's {name} in its place" for name in swaps]
    return report


FAILED_RUNS: dict[str, int] = {}  # exercise id -> failed checks so far in this kernel


def check(exercise_id: str, fn: Callable) -> None:
    """Check a learner's function; print one line per property; raise if anything fails.
    Hints come in tiers: what a failed property means from the first failure, the code-level
    hint from the third failed run of the same exercise in this kernel. Under a failure a
    notebook also shows the first differing case as a picture, where it is one (picture.py)."""
    from course_lib.checking.registry import get_exercise

    ex = get_exercise(exercise_id)
    if not callable(fn):
        raise CheckFailed(f"{exercise_id}: expected a function, got {type(fn).__name__}. "
                          f"Pass the function itself, e.g. check('{exercise_id}', my_function).")
    report = evaluate(ex, fn)
    failed_before = FAILED_RUNS.get(exercise_id, 0)
    print(report.render(tier=2 if failed_before >= 2 else 1, failed_before=failed_before))
    if not report.passed and not report.not_attempted:
        FAILED_RUNS[exercise_id] = failed_before + 1
    if not report.passed and not report.not_attempted and report.outcomes:
        picture.show(report, *report.outcomes)  # in a notebook: reference vs yours, drawn
    if report.not_attempted:
        raise NotAttempted(f"{exercise_id} is not attempted yet")
    if not report.passed:
        n_bad = sum(not line.ok for line in report.lines)
        raise CheckFailed(f"{exercise_id}: {n_bad} of {len(report.lines)} checks failed; "
                          "read the lines above")
