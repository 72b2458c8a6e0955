"""The options that say what and how to grade, shared by `python -m course_lib.grade` and by
its Gradescope export (which writes them into the bundle)."""
from __future__ import annotations

import argparse
import secrets
import sys
from pathlib import Path

from course_lib.grade.worker import Limits


def add_grading_options(parser: argparse.ArgumentParser) -> None:
    """--notebooks, the limits, --seed and --allow-library-calls."""
    parser.add_argument("--notebooks", nargs="+", metavar="NAME",
                        help="grade only these notebooks (e.g. 01_spiral or 01); default all")
    parser.add_argument("--timeout", type=float, default=60.0,
                        help="wall-clock seconds per exercise (default 60)")
    parser.add_argument("--memory-mb", type=int, default=4096,
                        help="address-space limit per grading process in MiB (default 4096)")
    parser.add_argument("--max-output-mb", type=float, default=1.0,
                        help="output an exercise may print, in MiB (default 1)")
    parser.add_argument("--seed", type=int, default=None,
                        help="the probe draw to grade on (default: a fresh random one, written "
                             "to grades.json; give it again to repeat a grading exactly)")
    parser.add_argument("--allow-library-calls", action="store_true",
                        help="score answers that hand their work to the course's reference or "
                             "to a library function computing the same (default: they fail, "
                             "with the reason)")


def draw_seed() -> int:
    """A fresh probe draw (never 0, which would be the notebooks' own probes)."""
    return secrets.randbelow(2**31) + 1


def limits_from(args: argparse.Namespace) -> Limits:
    """The Limits the options ask for; a fresh draw when --seed was not given."""
    return Limits(timeout=args.timeout, memory_mb=args.memory_mb,
                  output_mb=args.max_output_mb,
                  allow_library_calls=args.allow_library_calls,
                  seed=args.seed if args.seed is not None else draw_seed())


def folder_problem(submissions: Path, out: Path) -> str | None:
    """Why the class grader must refuse these folders, or None: the reports may not go inside
    the submissions, and neither may lie where graded code can read (beside course_lib/ or
    data/, in the Python installation): one student's code could read the others' answers."""
    from course_lib.grade.sandbox import readable_paths

    subs, out = submissions.resolve(), out.resolve()
    if out == subs or subs in out.parents:
        return f"--out {out} is inside {submissions}; the grader never writes there"
    allowed_paths = [p for p in readable_paths() if not p.startswith("/proc/")]
    for folder, what in ((subs, "the submissions"), (out, "--out")):
        for allowed in allowed_paths:
            if str(folder) == allowed or Path(allowed) in folder.parents:
                return (f"{what} ({folder}) lies inside {allowed}, which graded code may read; "
                        "put it elsewhere")
    return None


def course_or_refuse(notebooks: list[str] | None):
    """The course's graded notebooks named by --notebooks (all when None), or None after
    saying on stderr which name is unknown: the command then exits with status 2."""
    from course_lib.grade.submissions import load_course

    try:
        return load_course(only=notebooks)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return None
