"""Benchmark for the class grader (a script that prints figures, not a timed test): where one
student's grading time goes for the whole course (00-10), the seconds per student for a class
of N copies of solutions/ with 1 and with 2 workers, and what that makes for 1,000 students
on a batch system (`--shard I/N`, one worker per shard).

Run it on an otherwise idle machine:
`python -m course_lib.bench.grade [--students 10] [--workers 1 2] [--notebooks ...]`.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from course_lib.checking import run_cases
from course_lib.exercises.common import probes_drawn
from course_lib.grade import grade_class, load_course
from course_lib.grade.sandbox import landlock_abi
from course_lib.grade.worker import Limits, _child_env
from course_lib.runtime import REPO_ROOT

SEED = 20240601  # one draw for every run, so that every run does the same work

# What the grader's child does for one student, step by step and timed, in a process started
# the way the grader starts it (same environment, one thread). It grades nothing.
PHASES = r"""
import copy, json, sys, time
t0 = time.perf_counter()
import torch
torch.set_num_threads(1)
from course_lib.checking import run_cases
from course_lib.exercises.common import probes_drawn
from course_lib.grade.submissions import load_course
course = load_course(only=json.loads(sys.argv[2]))
out = {"imports": time.perf_counter() - t0, "notebooks": {}}
with probes_drawn(int(sys.argv[1])):
    for nb in course:
        code = compile(nb.setup, nb.stem, "exec")
        times = []
        for _ in range(2):  # the first run imports and loads; the child repeats it per answer
            t = time.perf_counter()
            exec(code, {"__name__": "__main__"})
            times.append(time.perf_counter() - t)
        refs = {}
        for ex in nb.exercises:
            t = time.perf_counter()
            run_cases(ex.probed(ex.reference), copy.deepcopy(ex.probe_cases()))
            refs[ex.id] = time.perf_counter() - t
        out["notebooks"][nb.stem] = {"first": times[0], "again": times[1],
                                     "n": len(nb.exercises), "refs": refs}
out["inside"] = time.perf_counter() - t0
print("PHASES " + json.dumps(out))
"""

# The cut the breakdown points at, measured: the child's probing of every exercise (answers =
# the reference) after computing the reference's outcomes itself ("own"), or without (as if the
# parent, which has them already, sent them: "sent"). Fresh process each, setups run first.
CUT = r"""
import copy, json, sys, time
import torch
torch.set_num_threads(1)
from course_lib.checking import run_cases
from course_lib.exercises.common import probes_drawn
from course_lib.grade.submissions import load_course
course = load_course(only=json.loads(sys.argv[2]))
exercises = [ex for nb in course for ex in nb.exercises]
with probes_drawn(int(sys.argv[1])):
    for nb in course:
        exec(compile(nb.setup, nb.stem, "exec"), {"__name__": "__main__"})
    t0 = time.perf_counter()
    cases = {ex.id: ex.probe_cases() for ex in exercises}
    if sys.argv[3] == "own":
        for ex in exercises:
            run_cases(ex.probed(ex.reference), copy.deepcopy(cases[ex.id]))
    for ex in exercises:
        run_cases(ex.probed(ex.reference), copy.deepcopy(cases[ex.id]), ex.watch())
print("CUT", time.perf_counter() - t0)
"""


def make_class(root: Path, n: int) -> Path:
    """n student folders, each a copy of solutions/ (so every answer must get full marks)."""
    klass = root / f"class_{n}"
    for i in range(n):
        shutil.copytree(REPO_ROOT / "solutions", klass / f"student_{i:03d}",
                        ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    return klass


def time_class(klass: Path, course, workers: int, limits: Limits):
    """(seconds, students short of full marks, the grades) for grading one class."""
    full = sum(ex.points for nb in course for ex in nb.exercises)
    t0 = time.perf_counter()
    grades = grade_class(klass, course, limits, workers=workers, progress=False)
    seconds = time.perf_counter() - t0
    short = sum(sum(g.points for g in gs.values()) != full for gs in grades.values())
    return seconds, short, grades


def child_phases(course, root: Path) -> tuple[dict, float]:
    """The child's steps timed in a process started as the grader starts one; and that
    process's wall time (so Python's start and exit are the difference)."""
    scratch = root / "phases"
    scratch.mkdir()
    (root / "mpl").mkdir(exist_ok=True)
    env = _child_env(scratch, root / "mpl")
    t0 = time.perf_counter()
    run = subprocess.run([sys.executable, "-c", PHASES, str(SEED),
                          json.dumps([nb.stem for nb in course])],
                         cwd=scratch, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    line = [x for x in run.stdout.splitlines() if x.startswith("PHASES ")]
    if run.returncode or not line:
        raise RuntimeError(f"the phase probe failed: {run.stderr[-2000:]}")
    return json.loads(line[-1][len("PHASES "):]), wall


def cut_estimate(course, root: Path, repeats: int = 3) -> tuple[float, float]:
    """Median seconds of the child's probing with its own reference outcomes and without."""
    (root / "cut").mkdir()
    (root / "mpl").mkdir(exist_ok=True)
    env = _child_env(root / "cut", root / "mpl")
    times: dict[str, list[float]] = {"own": [], "sent": []}
    for _ in range(repeats):
        for mode in times:
            run = subprocess.run([sys.executable, "-c", CUT, str(SEED),
                                  json.dumps([nb.stem for nb in course]), mode],
                                 cwd=root / "cut", env=env, capture_output=True, text=True)
            line = [x for x in run.stdout.splitlines() if x.startswith("CUT ")]
            if run.returncode or not line:
                raise RuntimeError(f"the cut probe failed: {run.stderr[-2000:]}")
            times[mode].append(float(line[-1].split()[1]))
    return statistics.median(times["own"]), statistics.median(times["sent"])


def parent_fixed(course) -> float:
    """Seconds the grader spends once per class (per shard), whatever its size: the
    reference's outcomes on every probe, as grade_class computes them."""
    t0 = time.perf_counter()
    with probes_drawn(SEED):
        for nb in course:
            for ex in nb.exercises:
                run_cases(ex.probed(ex.reference), ex.probe_cases())
    return time.perf_counter() - t0


def breakdown(course, phases: dict, wall: float, grades: dict, seconds: float) -> list[str]:
    """The table of where one student's time goes, notebook by notebook."""
    (student,) = grades.values()
    lines = [f"{'notebook':22}{'setup 1st':>10}{'setup again':>12}{'refs':>8}{'exercises':>11}"
             f"   (s; 'again' = re-run before each answer; refs = child's reference outcomes)"]
    tot = {"first": 0.0, "again": 0.0, "refs": 0.0, "ex": 0.0}
    for nb in course:
        p = phases["notebooks"][nb.stem]
        row = {"first": p["first"], "again": p["again"] * p["n"],
               "refs": sum(p["refs"].values()),
               "ex": sum(student[ex.id].seconds or 0.0 for ex in nb.exercises)}
        for k in tot:
            tot[k] += row[k]
        lines.append(f"{nb.stem:22}{row['first']:10.2f}{row['again']:12.2f}{row['refs']:8.2f}"
                     f"{row['ex']:11.2f}")
    lines.append(f"{'total':22}{tot['first']:10.2f}{tot['again']:12.2f}{tot['refs']:8.2f}"
                 f"{tot['ex']:11.2f}")
    slow = sorted(((t, k) for p in phases["notebooks"].values() for k, t in p["refs"].items()),
                  reverse=True)[:3]
    start = wall - phases["inside"]
    child = start + phases["imports"] + tot["first"] + tot["refs"] + tot["ex"]
    lines += [
        f"one student, whole course, 1 worker: {seconds:.1f} s, of which, in the child:",
        f"  start Python and exit: {start:.1f} s; imports (torch, course_lib): "
        f"{phases['imports']:.1f} s",
        f"  setup cells, first run: {tot['first']:.1f} s",
        f"  probe inputs and the reference's outcomes (work the parent has done already, once "
        f"per class; slowest: {', '.join(f'{k} {t:.1f} s' for t, k in slow)}): "
        f"{tot['refs']:.1f} s",
        f"  the exercises, as the grader timed them: {tot['ex']:.1f} s (setup cells re-run "
        f"before each answer ~{tot['again']:.1f} s, the answers and their probing "
        f"~{max(0.0, tot['ex'] - tot['again']):.1f} s)",
        f"  and in the parent (references once per class, judging, bookkeeping): "
        f"~{max(0.0, seconds - child):.1f} s",
    ]
    return lines


def estimate(per_student: float, fixed: float, n: int = 1000) -> list[str]:
    """Wall time for n students on k single-worker shards, from the measured figures."""
    lines = [f"estimate for {n} students, one single-threaded worker per shard "
             f"({per_student:.1f} s a student, {fixed:.1f} s once per shard; job start-up, "
             f"queueing and file transfer not included):"]
    for k in (1, 2, 10, 50, 100, 250, 1000):
        wall = fixed + math.ceil(n / k) * per_student
        lines.append(f"  {k:5d} shards: {wall / 60:8.1f} min")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=10, help="class size (default 10)")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2],
                        help="worker counts to time the class with (default: 1 2)")
    parser.add_argument("--notebooks", nargs="+", help="only these notebooks (default all)")
    args = parser.parse_args(argv)
    course = load_course(only=args.notebooks)
    limits = Limits(seed=SEED)
    n_ex = sum(len(nb.exercises) for nb in course)
    print(f"grader benchmark: {len(course)} notebooks, {n_ex} exercises; "
          f"{os.cpu_count()} CPUs ({platform.processor() or platform.machine()}); "
          f"Python {platform.python_version()}; sandbox "
          f"{'landlock' if landlock_abi() else 'audit-hook'}; probe draw {SEED}", flush=True)
    root = Path(tempfile.mkdtemp(prefix="bench-grade-"))
    problems, per_worker = 0, {}
    try:
        seconds, short, grades = time_class(make_class(root, 1), course, 1, limits)
        problems += short
        phases, wall = child_phases(course, root)
        print("\n".join(breakdown(course, phases, wall, grades, seconds)), flush=True)
        own, sent = cut_estimate(course, root)
        print(f"the child's probing of every answer: {own:.1f} s as now, {sent:.1f} s with the "
              f"reference's outcomes sent by the parent: {own - sent:.1f} s a student to cut "
              f"(median of 3 fresh processes each)", flush=True)
        fixed = parent_fixed(course)
        klass = make_class(root, args.students)
        for workers in args.workers:
            seconds, short, _ = time_class(klass, course, workers, limits)
            problems += short
            per_worker[workers] = seconds
            print(f"{args.students} students, {workers} worker(s): {seconds:7.1f} s "
                  f"({seconds / args.students:.2f} s per student)", flush=True)
        if 1 in per_worker:
            per_student = max(0.0, per_worker[1] - fixed) / args.students
            print("\n".join(estimate(per_student, fixed)))
    finally:
        shutil.rmtree(root, ignore_errors=True)
    if problems:
        print(f"warning: {problems} gradings of solutions/ were short of full marks",
              file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
