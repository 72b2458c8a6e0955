"""Planted bugs fail: every wrong answer in an exercise file's BUGS fails its check on the
notebook's probes, with a failed line and a hint (not as "not attempted"). On their own file so
that pytest-xdist can run them beside test_checks.py's other tests."""
import pytest

from course_lib import CheckFailed, NotAttempted, check
from course_lib.checking.registry import EXERCISES

PLANTED_BUGS = {e: ex.bugs for e, ex in EXERCISES.items() if ex.bugs}


def test_every_exercise_has_two_planted_bugs():
    for exercise_id in EXERCISES:
        assert len(PLANTED_BUGS.get(exercise_id, {})) >= 2, exercise_id
    assert set(PLANTED_BUGS) <= set(EXERCISES)


@pytest.mark.parametrize("exercise_id,bug", [(e, b) for e in PLANTED_BUGS for b in PLANTED_BUGS[e]])
def test_planted_bug_fails(exercise_id, bug, capsys):
    with pytest.raises(CheckFailed) as info:
        check(exercise_id, PLANTED_BUGS[exercise_id][bug])
    assert not isinstance(info.value, NotAttempted)
    out = capsys.readouterr().out
    assert "✗" in out and "hint:" in out, out
