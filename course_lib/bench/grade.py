"""Benchmark for the class grader (a script, not a timed test): seconds to grade one student's
full set of notebooks, and a class of N copies of solutions/ with 1 and with 2 workers.

Run it on a quiet machine: `python -m course_lib.bench.grade [--students 30] [--workers 1 2]`.
"""
from __future__ import annotations

import argparse
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

from course_lib.grade import grade_class, load_course
from course_lib.grade.sandbox import landlock_abi
from course_lib.grade.worker import Limits
from course_lib.runtime import REPO_ROOT


def make_class(root: Path, n: int) -> Path:
    """n student folders, each a copy of solutions/ (so every answer must get full marks)."""
    klass = root / f"class_{n}"
    for i in range(n):
        shutil.copytree(REPO_ROOT / "solutions", klass / f"student_{i:03d}",
                        ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    return klass


def time_class(klass: Path, course, workers: int, limits: Limits) -> tuple[float, int]:
    """(seconds, number of students short of full marks) for grading one class."""
    full = sum(ex.points for nb in course for ex in nb.exercises)
    t0 = time.perf_counter()
    grades = grade_class(klass, course, limits, workers=workers, progress=False)
    seconds = time.perf_counter() - t0
    short = sum(sum(g.points for g in gs.values()) != full for gs in grades.values())
    return seconds, short


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=30, help="class size (default 30)")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2],
                        help="worker counts to time the class with (default: 1 2)")
    parser.add_argument("--notebooks", nargs="+", help="only these notebooks (default all)")
    args = parser.parse_args(argv)
    course = load_course(only=args.notebooks)
    limits = Limits()
    n_ex = sum(len(nb.exercises) for nb in course)
    print(f"grader benchmark: {len(course)} notebooks, {n_ex} exercises; "
          f"{os.cpu_count()} CPUs ({platform.processor() or platform.machine()}); "
          f"Python {platform.python_version()}; sandbox "
          f"{'landlock' if landlock_abi() else 'audit-hook'}")
    root = Path(tempfile.mkdtemp(prefix="bench-grade-"))
    problems = 0
    try:
        one = make_class(root, 1)
        seconds, short = time_class(one, course, 1, limits)
        problems += short
        print(f"one student, full set of notebooks: {seconds:7.1f} s", flush=True)
        klass = make_class(root, args.students)
        for workers in args.workers:
            seconds, short = time_class(klass, course, workers, limits)
            problems += short
            print(f"{args.students} students, {workers} worker(s): {seconds:7.1f} s "
                  f"({seconds / args.students:.2f} s per student)", flush=True)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    if problems:
        print(f"warning: {problems} gradings of solutions/ were short of full marks",
              file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
