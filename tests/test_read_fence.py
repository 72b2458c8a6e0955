"""The grader's read fence: students who try to read another student's notebook and files,
solutions/, the grader's output folder, the instructor's home or the other grading processes'
scratch folders each lose only the exercise that tried; the batch goes on; nothing they were
refused reaches a report. Graded with Landlock where the kernel has it, and with the audit hook
alone; a confined process is also probed directly, read by read."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import grade_fixtures as fx
import pytest

from course_lib import grade
from course_lib.grade import readback, sandbox
from course_lib.grade.worker import Answer, Limits, run_answers
from course_lib.runtime import REPO_ROOT

LANDLOCK = sandbox.landlock_abi() > 0
MODES = ["audit-hook"] + (["landlock"] if LANDLOCK else [])


@pytest.fixture(scope="module", params=MODES)
def fenced(request, tmp_path_factory):
    """The readers' class graded in-process (2 workers), the reports written into the output
    folder that the readers aimed at."""
    root = tmp_path_factory.mktemp(f"fence-{request.param}")
    klass, targets = fx.build_readers(root, request.param == "landlock")
    before = fx.fingerprint(klass), fx.fingerprint(targets["home"])
    course = grade.load_course(only=fx.NOTEBOOKS)
    limits = Limits(timeout=10, memory_mb=2048, seed=1, landlock=request.param == "landlock")
    grades = grade.grade_class(klass, course, limits, workers=2, progress=False)
    grade.write_reports(targets["out"], grades, course, limits, klass)
    text = "".join((targets["out"] / name).read_text(encoding="utf-8")
                   for name in ("grades.json", "grades.csv"))
    return {"mode": request.param, "grades": grades, "text": text, "klass": klass,
            "targets": targets, "before": before,
            "report": json.loads((targets["out"] / "grades.json").read_text(encoding="utf-8"))}


@pytest.mark.slow
def test_each_attempt_costs_its_exercise_and_only_that_one(fenced):
    expected = fx.expected_readers(fenced["mode"] == "landlock")
    assert set(fenced["grades"]) == set(expected)
    for student, (points, phrases) in expected.items():
        got = fenced["grades"][student]
        assert {k: g.points for k, g in got.items()} == points, (student, {
            k: g.reasons for k, g in got.items()})
        for ex_id, phrase in phrases.items():
            assert any(phrase in r for r in got[ex_id].reasons), (student, ex_id,
                                                                  got[ex_id].reasons)
        for ex_id, g in got.items():
            assert bool(g.reasons) == (not g.passed), (student, ex_id, g.reasons)
            assert not g.grader_error and g.sandbox == fenced["mode"]


@pytest.mark.slow
def test_the_batch_is_intact_and_nothing_changed(fenced):
    report = fenced["report"]
    assert report["students"]["victim"]["total"] == report["max_total"] > 0
    assert report["limits"]["landlock"] == (fenced["mode"] == "landlock")
    assert report["sandbox"] == [fenced["mode"]]
    assert (fx.fingerprint(fenced["klass"]), fx.fingerprint(fenced["targets"]["home"])) \
        == fenced["before"]


@pytest.mark.slow
def test_nothing_the_readers_were_refused_reaches_a_report(fenced):
    targets = fenced["targets"]
    # the markers are there to be stolen (so this test can fail) ...
    assert fx.MARKERS["victim"] in targets["victim00"].read_text(encoding="utf-8")
    assert fx.MARKERS["home"] in targets["home_notes"].read_text(encoding="utf-8")
    assert fx.MARKERS["solutions"] in targets["solutions01"].read_text(encoding="utf-8")
    assert fx.MARKERS["out"].encode() in targets["out_pt"].read_bytes()
    # ... and none reached the reports, which every student's feedback is drawn from
    for name, marker in fx.MARKERS.items():
        assert marker not in fenced["text"], name
    assert "what I read" not in fenced["text"]  # no read came back at all
    assert '"cells"' not in fenced["text"]  # nor any notebook's text


_PROBE = """
import json, os, sys, tempfile
import numpy as np, torch
from course_lib.grade import sandbox
from course_lib.runtime import DATA_DIR, REPO_ROOT

scratch, kernel = tempfile.mkdtemp(dir=sys.argv[1]), sys.argv[2] == "1"
os.chdir(scratch)
torch.mm(torch.ones(2, 2), torch.ones(2, 2))
on_path = str(REPO_ROOT) in sys.path
seen = []
abi = sandbox.confine(scratch, seen, kernel=kernel)
secret = os.path.join(sys.argv[1], "secret.txt")
tries = {
    "course_lib": lambda: open(REPO_ROOT / "course_lib" / "runtime.py").read(),
    "data": lambda: np.fromfile(DATA_DIR / "README.md", np.uint8),
    "scratch": lambda: open("x.txt", "w").write("x") and open("x.txt").read(),
    "own /proc": lambda: open("/proc/self/status").read(),
    "urandom": lambda: torch.seed(),
    "a new stdlib module": lambda: __import__("lzma").compress(b"x"),
    "solutions": lambda: open(REPO_ROOT / "solutions" / "00_welcome.ipynb").read(),
    "secret": lambda: open(secret).read(),
    "secret by numpy": lambda: np.load(secret + "."),
    "parent's /proc": lambda: open(f"/proc/{os.getppid()}/cmdline").read(),
    "repository root": lambda: os.listdir(REPO_ROOT),
    "secret in C": lambda: torch.from_file(secret, size=4, dtype=torch.uint8),
}
got = {}
for name, fn in tries.items():
    try:
        fn()
        got[name] = "read"
    except Exception as exc:
        got[name] = type(exc).__name__
print(json.dumps({"got": got, "abi": abi, "seen": seen, "on_path": on_path,
                  "still_on_path": str(REPO_ROOT) in sys.path}))
"""


@pytest.mark.slow
@pytest.mark.parametrize("mode", MODES)
def test_a_confined_process_reads_only_what_grading_needs(tmp_path, mode):
    (tmp_path / "secret.txt").write_text("s3cr3t", encoding="utf-8")
    (tmp_path / "secret.txt.").write_text("s3cr3t", encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    run = subprocess.run([sys.executable, "-c", textwrap.dedent(_PROBE), str(tmp_path),
                          "1" if mode == "landlock" else "0"], capture_output=True, text=True,
                         timeout=300, cwd=REPO_ROOT, env=env)
    assert run.returncode == 0, run.stderr
    out = json.loads(run.stdout.splitlines()[-1])
    got = out["got"]
    allowed = ["course_lib", "data", "scratch", "own /proc", "urandom", "a new stdlib module"]
    assert {k: got[k] for k in allowed} == dict.fromkeys(allowed, "read")
    refused = ["solutions", "secret", "secret by numpy", "parent's /proc", "repository root"]
    assert {k: got[k] for k in refused} == dict.fromkeys(refused, "PermissionError")
    assert [s.split()[0] for s in out["seen"]] == ["reading"] * 4 + ["listing"]  # each noted
    # C code that opens a path itself passes the audit hook: only Landlock refuses it
    assert got["secret in C"] == ("RuntimeError" if mode == "landlock" else "read")
    assert (out["abi"] > 0) == (mode == "landlock")
    assert out["on_path"] and not out["still_on_path"]  # the repository root left sys.path
    assert "cpuinfo" not in run.stderr  # torch read /proc/cpuinfo before the fence


@pytest.mark.slow
def test_an_honest_answer_that_imports_and_plots_loses_nothing(tmp_path):
    """Imports that first happen inside an answer, and a figure drawn with text, read only
    what the fence allows (notebook 00's setup imports neither matplotlib nor scipy)."""
    setup = grade.load_course(only=["00_welcome"])[0].setup
    assert "matplotlib" not in setup
    mse = ("import lzma\nimport matplotlib.pyplot as plt\nimport scipy.special\n\n"
           "def mse(a, b):\n    fig = plt.figure()\n    plt.title('loss')\n"
           "    fig.canvas.draw()\n    plt.close(fig)\n    return ((a - b) ** 2).mean()\n")
    result = run_answers({"00_welcome": setup}, [Answer("mse", "00_welcome", mse, "x")],
                         Limits(), tmp_path)["mse"]
    assert result.record is not None, result.reason
    assert result.record["error"] is None and result.record["violations"] == []
    assert result.fence == ("landlock" if LANDLOCK else "audit-hook")


def test_text_from_a_child_is_capped():
    record = {"id": "mse", "error": "e" * 10_000, "notes": ["n" * 10_000] * 100,
              "violations": ["v" * 10_000], "output_exceeded": False,
              "outcomes": {"batch": {"value": "x" * 1000, "error": "o" * 10_000,
                                     "type_name": "t" * 10_000, "proxies": ["p" * 10_000]}}}
    out = readback.capped(record)
    assert len(out["error"]) == readback.MAX_ERROR
    assert len(out["notes"]) == readback.MAX_ITEMS
    assert all(len(s) == readback.MAX_ERROR for s in out["notes"])
    assert len(out["violations"][0]) == readback.MAX_LINE
    o = out["outcomes"]["batch"]
    assert len(o["error"]) == readback.MAX_ERROR and len(o["type_name"]) == readback.MAX_LINE
    assert len(o["proxies"][0]) == readback.MAX_LINE
    assert o["value"] == "x" * 1000 and out["id"] == "mse" and out["output_exceeded"] is False
