"""The class grader: exact scores for a class of complete, blank, partly right, broken and
hostile submissions; the batch goes on past every failure; no submission file changes; the
course's own solutions/ get full marks and notebooks/ get zero."""
from __future__ import annotations

import csv
import json
import subprocess
import sys

import grade_fixtures as fx
import pytest
import torch

from course_lib import grade
from course_lib.checking.registry import EXERCISES
from course_lib.grade import sandbox
from course_lib.grade.worker import Answer, ChildResult, Limits, run_answers
from course_lib.runtime import DATA_DIR, REPO_ROOT

pytestmark = pytest.mark.slow  # grading runs sandboxed child processes

LANDLOCK = sandbox.landlock_abi() > 0


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """The fixture class, graded once through the CLI entry point (2 workers, 12 s limit:
    train_loop needs about 4 s alone)."""
    root = tmp_path_factory.mktemp("grading")
    klass, outside = fx.build_class(root)
    before = fx.fingerprint(klass)
    out = root / "out"
    code = grade.main([str(klass), "--notebooks", *fx.NOTEBOOKS, "--out", str(out),
                       "--timeout", "12", "--memory-mb", "2048", "--workers", "2",
                       "--no-progress"])
    report = json.loads((out / "grades.json").read_text(encoding="utf-8"))
    with open(out / "grades.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    return {"code": code, "report": report, "rows": rows, "klass": klass,
            "outside": outside, "before": before}


EXPECTED = fx.expected(LANDLOCK)


@pytest.mark.parametrize("student", list(EXPECTED))
def test_exact_scores_and_reasons(graded, student):
    points, phrases = EXPECTED[student]
    got = graded["report"]["students"][student]["exercises"]
    assert {k: v["points"] for k, v in got.items()} == points
    for ex_id, phrase in phrases.items():
        reasons = got[ex_id]["reasons"]
        assert any(phrase in r for r in reasons), (ex_id, reasons)
    for ex_id, g in got.items():  # every lost point is explained, no point is explained away
        assert g["passed"] == (g["points"] == g["max_points"])
        assert bool(g["reasons"]) == (not g["passed"]), (ex_id, g["reasons"])
        assert not g["grader_error"]


def test_the_batch_went_on_past_every_failure(graded):
    assert graded["code"] == 0  # no grader errors: every failure was the submission's
    assert set(graded["report"]["students"]) == set(fx.BUILDERS)
    assert [r["student"] for r in graded["rows"]] == sorted(fx.BUILDERS)
    for row in graded["rows"]:
        points, _ = EXPECTED[row["student"]]
        assert {k: int(row[k]) for k in fx.EXERCISE_IDS} == points
        assert int(row["total"]) == sum(points.values())


def test_no_submission_file_changed_and_nothing_was_written_outside(graded):
    assert fx.fingerprint(graded["klass"]) == graded["before"]
    # Without Landlock (macOS, old kernels) torch.save's C++ writer passes the audit hook.
    assert [p.name for p in graded["outside"].iterdir()] == ([] if LANDLOCK else ["saved.pt"])


def test_fallback_and_stray_errors_are_noted(graded):
    got = graded["report"]["students"]["broken_metadata"]["exercises"]
    assert all("found by its function name" in " ".join(g["notes"])
               for k, g in got.items() if k != "mse")
    assert "NameError: name 'data' is not defined" in " ".join(got["predict_x0"]["notes"])
    assert graded["report"]["sandbox"] == ["landlock" if LANDLOCK else "audit-hook"]


def _grade_folder(folder, out):
    """Grade a course folder as one student, on the notebooks it has (notebooks/ may lag
    behind solutions/ while a new notebook is being written)."""
    before = fx.fingerprint(folder)
    stems = [p.stem for p in folder.glob("*.ipynb")]
    code = grade.main([str(folder), "--out", str(out), "--timeout", "30", "--no-progress",
                       "--notebooks", *stems])
    assert fx.fingerprint(folder) == before
    report = json.loads((out / "grades.json").read_text(encoding="utf-8"))
    (student,) = report["students"].values()
    return code, report, student


def test_solutions_get_full_marks(tmp_path):
    code, report, student = _grade_folder(REPO_ROOT / "solutions", tmp_path)
    assert code == 0
    failed = {k: g["reasons"] for k, g in student["exercises"].items() if not g["passed"]}
    assert failed == {}
    assert student["total"] == report["max_total"] > 0


def test_notebooks_get_zero(tmp_path):
    code, report, student = _grade_folder(REPO_ROOT / "notebooks", tmp_path)
    assert code == 0
    assert student["total"] == 0
    assert all(g["reasons"] == ["not attempted yet (the stub still raises NotImplementedError)"]
               for g in student["exercises"].values())


def test_command_line(tmp_path):
    (tmp_path / "class" / "ada").mkdir(parents=True)
    fx.complete({"folder": tmp_path / "class" / "ada", "outside": tmp_path})
    run = subprocess.run(
        [sys.executable, "-m", "course_lib.grade", str(tmp_path / "class"), "--notebooks",
         "00", "--out", str(tmp_path / "out"), "--no-progress"],
        capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert "ada" in run.stdout and "1/1" in run.stdout
    rows = list(csv.reader((tmp_path / "out" / "grades.csv").open(encoding="utf-8")))
    assert rows == [["student", "mse", "total"], ["ada", "1", "1"]]


@pytest.mark.parametrize("args, message", [
    (["--notebooks", "99_nothing"], "unknown notebook"),
    (["--out", "{class}/out"], "is inside"),
    (["--out", "{data}/graded"], "which graded code may read"),
])
def test_bad_options_are_refused_before_grading(tmp_path, capsys, args, message):
    (tmp_path / "class" / "ada").mkdir(parents=True)
    args = [a.replace("{class}", str(tmp_path / "class")).replace("{data}", str(DATA_DIR))
            for a in args]
    assert grade.main([str(tmp_path / "class"), *args]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "class" / "out").exists()
    assert not (DATA_DIR / "graded").exists()


def test_a_broken_setup_cell_is_a_grader_error_not_the_students(tmp_path):
    mse = "def mse(a, b):\n    return (a - b).pow(2).mean()\n"
    answers = [Answer("mse", "00_welcome", mse, "x"), Answer("mse", "01_spiral", mse, "y")]
    setups = {"00_welcome": "raise RuntimeError('no setup today')", "01_spiral": "import torch"}
    first, second = run_answers(setups, answers[:1], Limits(), tmp_path), \
        run_answers(setups, answers[1:], Limits(), tmp_path)
    assert first["mse"].record["grader_error"] and "no setup today" in first["mse"].record["error"]
    assert second["mse"].record["error"] is None  # the other notebook's setup was fine
    # scratch folders are gone; matplotlib's cache, shared by the children, stays
    assert [p.name for p in tmp_path.iterdir() if p.name != "mplconfig"] == []


# ----------------------------------------------------------------------------- units, no child

def _cell(source, grade_id=None):
    meta = {"nbgrader": {"grade_id": grade_id, "schema_version": 3}} if grade_id else {}
    return {"cell_type": "code", "metadata": meta, "source": source}


def test_find_answer_prefers_grade_id_then_the_def_before_the_check_cell():
    cells = [_cell("def mse(a, b):\n    return 1\n"),
             _cell("def mse(a, b):\n    return 2\n", "mse"),
             _cell("check('mse', mse)")]
    answer, notes = grade.find_answer(cells, "mse", "nb")
    assert "return 2" in answer.source and notes == []
    cells[1] = _cell("def mse(a, b):\n    return 2\n")
    cells.append(_cell("def mse(a, b):\n    return 3\n"))
    answer, notes = grade.find_answer(cells, "mse", "nb")
    assert "return 2" in answer.source and "found by its function name" in notes[0]
    answer, reasons = grade.find_answer([_cell("x = 1")], "mse", "nb")
    assert answer is None and "no answer found" in reasons[0]


def test_a_forged_or_garbled_record_fails_in_the_parent():
    ex = EXERCISES["mse"]
    refs = grade.run_cases(ex.reference, ex.cases())
    good = {k: {**o.to_plain()} for k, o in refs.items()}
    limits = Limits()
    assert grade.judge_result(ex, ChildResult({"id": "mse", "outcomes": good,
                                               "output_exceeded": False}), refs, limits)[0]
    for bad in ({k: v for k, v in list(good.items())[1:]},             # a case missing
                {k: {**v, "passed": True} for k, v in good.items()},   # an unknown field
                {k: {**v, "error": 3} for k, v in good.items()}):      # a field of wrong type
        ok, reasons = grade.judge_result(
            ex, ChildResult({"id": "mse", "outcomes": bad, "output_exceeded": False}),
            refs, limits)
        assert not ok and "garbled" in reasons[-1]
    wrong = {k: {**v, "value": v["value"] + 1} for k, v in good.items()}
    ok, reasons = grade.judge_result(
        ex, ChildResult({"id": "mse", "outcomes": wrong, "output_exceeded": False}), refs,
        limits)
    assert not ok and any("matches the reference" in r for r in reasons)
    assert isinstance(wrong["batch"]["value"], torch.Tensor)


@pytest.mark.parametrize("student", ["complete", "blank", "partly_right", "reuses_earlier"])
def test_the_grader_agrees_with_the_notebooks_own_checks(graded, student):
    """Run the student's answer cells in notebook order in one namespace, as Jupyter does, and
    check each with the notebook's own check(): the same verdicts as the class grader's."""
    from course_lib.checking import evaluate
    from course_lib.grade import find_answer, load_course, read_cells

    course = {nb.stem: nb for nb in load_course(only=fx.NOTEBOOKS)}
    got = graded["report"]["students"][student]["exercises"]
    for stem in fx.NOTEBOOKS:
        path = graded["klass"] / student / f"{stem}.ipynb"
        if not path.exists():
            continue
        cells, ns = read_cells(path), {"__name__": "__main__"}
        exec(course[stem].setup, ns)
        for ex in course[stem].exercises:
            answer, _ = find_answer(cells, ex.id, student)
            exec(answer.source, ns)
            assert evaluate(ex, ns[ex.id]).passed == got[ex.id]["passed"], (student, ex.id)


def test_library_calls_score_only_when_the_instructor_allows_them(tmp_path):
    klass = tmp_path / "class" / "hands_off"
    klass.mkdir(parents=True)
    fx.hands_off({"folder": klass, "outside": tmp_path})
    out = tmp_path / "out"
    assert grade.main([str(klass), "--notebooks", "01", "--out", str(out), "--no-progress",
                       "--allow-library-calls"]) == 0
    got = json.loads((out / "grades.json").read_text(encoding="utf-8"))
    (student,) = got["students"].values()
    for ex_id in ("add_noise", "predict_x0"):
        g = student["exercises"][ex_id]
        assert g["passed"] and not g["reasons"], g
        assert any(f"calls course_lib's {ex_id}" in n for n in g["notes"]), g["notes"]
    assert got["limits"]["allow_library_calls"] is True
