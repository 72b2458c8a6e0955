"""Grading draws in bulk: `python -m course_lib.bench.draws [--from A] [--to B] [ids...]`.

The class grader probes every answer on a fresh draw (`--seed`); the test suite tries three
draws. This command tries many: on draws A to B - 1 (default 0 to 30) every exercise's
reference and correct alternatives must pass and every planted bug must fail. It prints one
line per exercise and, for each miss, the draw, the answer and the lines that decided it, and
exits 1 if anything missed. About 20 minutes for all exercises and 10 draws on one thread.
"""
from __future__ import annotations

import argparse
import sys
import time

import torch


def misses(ex, draws, bugs: bool = True) -> list[str]:
    """What went wrong on these draws: a right answer that failed or (with `bugs`) a planted
    bug that passed, one line each, with the lines that failed a right answer."""
    from course_lib.checking import evaluate
    from course_lib.exercises.common import probes_drawn

    found = []
    for draw in draws:
        with probes_drawn(draw):
            for name, fn in {"reference": ex.reference, **ex.alternatives}.items():
                report = evaluate(ex, fn)
                if not report.passed:
                    failed = "\n".join(line.render() for line in report.lines if not line.ok)
                    found.append(f"draw {draw}: right answer {name!r} failed\n{failed}")
            for name, fn in (ex.bugs if bugs else {}).items():
                if evaluate(ex, fn).passed:
                    found.append(f"draw {draw}: planted bug {name!r} passed")
    return found


def main(argv: list[str] | None = None) -> int:
    from course_lib.checking.registry import EXERCISES

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("ids", nargs="*", help="exercise ids (default: all, in course order)")
    parser.add_argument("--from", dest="start", type=int, default=0)
    parser.add_argument("--to", dest="stop", type=int, default=30)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    total = 0
    for ex_id in args.ids or list(EXERCISES):
        start = time.perf_counter()
        found = misses(EXERCISES[ex_id], range(args.start, args.stop))
        total += len(found)
        print(f"{ex_id:26s} {time.perf_counter() - start:6.0f} s  "
              f"{'ok' if not found else f'{len(found)} misses'}", flush=True)
        for line in found:
            print(f"    {line}", flush=True)
    print(f"draws {args.start} to {args.stop - 1}: {total} misses")
    return 1 if total else 0


if __name__ == "__main__":
    sys.exit(main())
