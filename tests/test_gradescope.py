"""The Gradescope export: the bundle's contents, results.json in Gradescope's format, and a
rehearsal of Gradescope's run (the bundle unpacked into source/, a submission in submission/,
run_autograder writing results/results.json) whose scores equal `python -m course_lib.grade`
on the same submission and draw, for a complete, a blank and a hostile submission."""
from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import zipfile

import grade_fixtures as fx
import pytest

from course_lib import grade
from course_lib.grade import Grade, autograder, sandbox
from course_lib.grade.submissions import load_course
from course_lib.grade.worker import Limits

SEED = 424242
LIMITS = ["--memory-mb", "2048"]  # the default 60 s per exercise: a loaded machine is slow
VISIBILITY = {"visible", "hidden", "after_due_date", "after_published"}


def _export(tmp_path, *extra):
    out = tmp_path / "autograder.zip"
    assert grade.main(["gradescope", str(out), "--notebooks", *fx.NOTEBOOKS, *extra]) == 0
    return out


def _unpack(bundle, dest):
    """As Gradescope's image build does: the zip's root becomes source/, modes kept."""
    with zipfile.ZipFile(bundle) as zf:
        for info in zf.infolist():
            path = zf.extract(info, dest)
            mode = info.external_attr >> 16 & 0o777
            if mode:
                os.chmod(path, mode)


def assert_gradescope_format(results):
    """The fields of Gradescope's results.json that the export writes, checked here on their
    own (not through autograder.problems)."""
    assert isinstance(results["score"], (int, float))
    assert isinstance(results["execution_time"], int) and isinstance(results["output"], str)
    assert results["visibility"] in VISIBILITY and results["stdout_visibility"] in VISIBILITY
    assert isinstance(results["extra_data"], dict)
    assert results["tests"], "one test per exercise"
    for t in results["tests"]:
        assert set(t) == {"name", "number", "score", "max_score", "status", "output",
                          "visibility"}, t
        assert isinstance(t["name"], str) and isinstance(t["output"], str)
        assert 0 <= t["score"] <= t["max_score"]
        assert t["status"] == ("passed" if t["score"] == t["max_score"] else "failed")
        assert t["visibility"] in VISIBILITY
    assert results["score"] == sum(t["score"] for t in results["tests"])
    assert autograder.problems(results) == []


def test_the_bundle_holds_the_scripts_the_course_and_the_settings(tmp_path):
    bundle = _export(tmp_path, "--seed", "5", "--timeout", "30", "--visibility", "hidden")
    with zipfile.ZipFile(bundle) as zf:
        names = set(zf.namelist())
        modes = {i.filename: i.external_attr >> 16 for i in zf.infolist()}
        config = json.loads(zf.read("autograder.json"))
    for script in ("setup.sh", "run_autograder"):  # at the zip's root, executable
        assert stat.S_ISREG(modes[script]) and modes[script] & 0o777 == 0o755
    assert {"requirements.txt", "pyproject.toml", "course_lib/grade/autograder.py",
            "solutions/01_spiral.ipynb", "data/spiral_mlp.pt"} <= names
    assert not any("__pycache__" in n or n.endswith(".pyc") for n in names)
    assert config == {"notebooks": fx.NOTEBOOKS, "seed": 5, "visibility": "hidden",
                      "limits": {"timeout": 30.0, "memory_mb": 4096, "output_mb": 1.0,
                                 "allow_library_calls": False}}
    _unpack(bundle, tmp_path / "source")
    for script in ("setup.sh", "run_autograder"):  # valid bash
        assert subprocess.run(["bash", "-n", str(tmp_path / "source" / script)]).returncode == 0


def test_bad_export_options_are_refused(tmp_path, capsys):
    assert grade.main(["gradescope", str(tmp_path / "a.zip"), "--notebooks", "99"]) == 2
    assert grade.main(["gradescope", str(tmp_path / "a.tar")]) == 2
    assert "unknown notebook" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_results_json_explains_every_lost_point():
    course = load_course(only=["00"])
    lost = Grade("mse", "00_welcome", 0, 1, False, ["matches the reference: off by 2"],
                 ["found by its function name in cell 3"], 0.1, False, "landlock")
    results = autograder.results_json({"mse": lost}, course, Limits(seed=9), 2.2, "hidden")
    assert_gradescope_format(results)
    (test,) = results["tests"]
    assert test["name"] == "00_welcome: mse" and test["number"] == "0.1"
    assert test["output"] == ("matches the reference: off by 2\n"
                              "note: found by its function name in cell 3")
    assert results["visibility"] == test["visibility"] == "hidden"
    assert results["execution_time"] == 3 and results["extra_data"]["seed"] == 9


@pytest.mark.parametrize("broken, words", [
    ({"tests": "no"}, "list of tests"),
    ({"score": "1", "tests": []}, "score is not a number"),
    ({"score": 1, "tests": [{"name": "a", "output": "", "score": 0, "max_score": 1}]},
     "not the sum"),
    ({"score": 0, "tests": [{"name": "a", "output": "", "score": 0, "max_score": 1,
                             "visibility": "later"}]}, "visibility"),
    ({"score": 0, "tests": [{"name": "a", "score": 0, "max_score": 1}]}, "output missing"),
])
def test_the_format_check_can_fail(broken, words):
    assert any(words in p for p in autograder.problems(broken))


# ----------------------------------------------------------------------------- rehearsal

def _hostile(ctx):
    """writes_outside aimed at Gradescope's results/ folder: every write there is refused."""
    fx.writes_outside(ctx)


STUDENTS = {"complete": fx.complete, "blank": fx.blank, "hostile": _hostile}


@pytest.fixture(scope="module")
def bundle_source(tmp_path_factory):
    base = tmp_path_factory.mktemp("gradescope")
    _unpack(_export(base, "--seed", str(SEED), *LIMITS), base / "source")
    return base / "source"


@pytest.mark.slow  # three gradings through the bundle, three through the command line
@pytest.mark.parametrize("student", list(STUDENTS))
def test_run_autograder_scores_as_the_class_grader_does(bundle_source, tmp_path, student):
    root = tmp_path / "autograder"  # Gradescope's /autograder, moved
    for sub in ("submission", "results"):
        (root / sub).mkdir(parents=True)
    (root / "source").symlink_to(bundle_source)
    (root / "run_autograder").write_bytes((bundle_source / "run_autograder").read_bytes())
    (root / "run_autograder").chmod(0o755)
    STUDENTS[student]({"folder": root / "submission", "outside": root / "results"})
    before = fx.fingerprint(root / "submission")
    env = {**os.environ, "AUTOGRADER_ROOT": str(root), "COURSE_PYTHON": sys.executable}
    run = subprocess.run([str(root / "run_autograder")], cwd=root, env=env,
                         capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    results = json.loads((root / "results" / "results.json").read_text(encoding="utf-8"))
    assert_gradescope_format(results)
    assert results["extra_data"]["seed"] == SEED
    # nothing but results.json in results/ (the hostile answers aimed there); with only the
    # audit hook (no Landlock), torch.save from C code may pass: the README says so
    left = {p.name for p in (root / "results").iterdir()} - {"results.json"}
    assert left <= ({"saved.pt"} if not sandbox.landlock_abi() else set()), left
    assert fx.fingerprint(root / "submission") == before

    out = tmp_path / "cli"
    code = grade.main([str(root / "submission"), "--notebooks", *fx.NOTEBOOKS, "--seed",
                       str(SEED), *LIMITS, "--out", str(out), "--no-progress"])
    assert code == 0
    report = json.loads((out / "grades.json").read_text(encoding="utf-8"))
    (expected,) = report["students"].values()
    got = {t["name"].split(": ")[1]: t for t in results["tests"]}
    assert list(got) == list(expected["exercises"]) == fx.EXERCISE_IDS
    assert {k: t["score"] for k, t in got.items()} == \
        {k: g["points"] for k, g in expected["exercises"].items()}
    assert results["score"] == expected["total"]
    for ex_id, g in expected["exercises"].items():  # the same reasons, word for word
        assert all(r in got[ex_id]["output"] for r in g["reasons"]), (ex_id, got[ex_id])
    points = {k: t["score"] for k, t in got.items()}
    if student == "complete":
        assert points == fx.FULL
    elif student == "blank":
        assert results["score"] == 0
    else:
        assert points["mse"] == 0 and points["sigma_schedule"] == 0 and 0 < results["score"]
