"""Grading a class in shards, for a batch system (a Slurm job array, a Kubernetes indexed Job).

`python -m course_lib.grade SUBMISSIONS --shard I/N --seed S --out OUT_I` grades the I-th of N
slices of the class; `python -m course_lib.grade merge OUT_1 ... OUT_N --out OUT` joins their
reports into the grades.csv and grades.json that one run with --seed S writes. A slice is
every N-th student folder in name order, from the I-th on: the slices are disjoint, cover the
class, differ in size by at most one student, and are the same in every job that lists the
same class. Each shard records the whole class it saw, so merge refuses shards that saw
different classes, graded on different draws or limits, or leave a slice out.
"""
from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path

from course_lib.grade.report import Grade, summary, write_report
from course_lib.grade.submissions import CourseNotebook

# The keys that must agree across shards: they say what was graded, on which draw and how.
SAME = ("submissions", "max_points", "max_total", "seed", "limits")


def parse_shard(text: str) -> tuple[int, int]:
    """'I/N' -> (I, N) with 1 <= I <= N (argparse type)."""
    try:
        index, count = (int(part) for part in text.split("/"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not I/N, e.g. 3/10") from None
    if not 1 <= index <= count:
        raise argparse.ArgumentTypeError(f"{text!r}: I must be between 1 and N")
    return index, count


def shard_students(students: list[tuple[str, Path]], index: int, count: int
                   ) -> tuple[list[tuple[str, Path]], dict]:
    """(this shard's students, the record its grades.json keeps) for shard index of count."""
    ordered = sorted(students, key=lambda s: s[0])
    mine = ordered[index - 1::count]
    return mine, {"index": index, "count": count, "class": [name for name, _ in ordered]}


class MergeError(ValueError):
    """The shards do not add up to one grading; the message says why."""


def merge_reports(reports: list[dict]) -> dict:
    """One grades.json from the shards' ones, as a single run over the class writes it."""
    if not reports:
        raise MergeError("no shard reports to merge")
    shards = [r.get("shard") for r in reports]
    if any(not isinstance(s, dict) for s in shards):
        raise MergeError("a report has no shard record: was it graded with --shard I/N?")
    counts = {s["count"] for s in shards}
    if len(counts) != 1:
        raise MergeError(f"the shards were cut into different numbers of slices: {counts}")
    count = counts.pop()
    indices = sorted(s["index"] for s in shards)
    if indices != list(range(1, count + 1)):
        missing = sorted(set(range(1, count + 1)) - set(indices))
        twice = sorted({i for i in indices if indices.count(i) > 1})
        raise MergeError(f"shards of {count}: missing {missing or 'none'}, "
                         f"given twice {twice or 'none'}")
    for key in SAME + ("class",):
        values = {json.dumps(r["shard"]["class"] if key == "class" else r.get(key),
                             sort_keys=True) for r in reports}
        if len(values) > 1:
            why = {"class": " (a submission folder came or went while they ran? grade again)",
                   "seed": " (give every shard the same --seed)"}.get(key, "")
            raise MergeError(f"the shards disagree on {key}{why}")
    order = shards[0]["class"]
    students = {}
    for report in reports:
        for name, student in report["students"].items():
            if name in students:
                raise MergeError(f"student {name!r} was graded in two shards")
            students[name] = student
    if sorted(students) != sorted(order):
        raise MergeError("the shards' students are not the class they listed")
    merged = {k: v for k, v in reports[0].items() if k != "shard"}
    merged["sandbox"] = sorted({s for r in reports for s in r.get("sandbox", [])})
    merged["students"] = {name: students[name] for name in order}
    return merged


@dataclass
class _Ex:  # what summary() reads of an exercise
    id: str
    points: int


def _summary(report: dict) -> str:
    """The table a single run prints, rebuilt from grades.json."""
    grades = {name: {k: Grade(**g) for k, g in s["exercises"].items()}
              for name, s in report["students"].items()}
    if not grades:
        return "no students"
    first = next(iter(grades.values()))
    course: dict[str, list[_Ex]] = {}
    for ex_id, points in report["max_points"].items():
        course.setdefault(first[ex_id].notebook, []).append(_Ex(ex_id, points))
    return summary(grades, [CourseNotebook(stem, "", exs) for stem, exs in course.items()])


def merge_main(argv: list[str]) -> int:
    """`python -m course_lib.grade merge DIR... --out DIR`."""
    parser = argparse.ArgumentParser(prog="python -m course_lib.grade merge",
                                     description="join the reports of --shard I/N gradings")
    parser.add_argument("shards", nargs="+", type=Path, metavar="DIR",
                        help="the --out folders of the shards (each holds grades.json)")
    parser.add_argument("--out", type=Path, required=True,
                        help="folder for the merged grades.csv and grades.json")
    args = parser.parse_args(argv)
    try:
        reports = [json.loads((d / "grades.json").read_text(encoding="utf-8"))
                   for d in args.shards]
        merged = merge_reports(reports)
    except (OSError, ValueError, KeyError, TypeError) as exc:  # MergeError is a ValueError
        print(f"error: cannot merge: {exc}", file=sys.stderr)
        return 2
    write_report(args.out, merged)
    print(_summary(merged))
    print(f"merged {len(reports)} shards on probe draw --seed {merged['seed']}; reports: "
          f"{args.out / 'grades.csv'}, {args.out / 'grades.json'}")
    errors = [f"{name}/{k}: {g['reasons'][0] if g['reasons'] else ''}"
              for name, s in merged["students"].items() for k, g in s["exercises"].items()
              if g.get("grader_error")]
    for line in errors:
        print(f"grader error (not the student's fault; grade again): {line}", file=sys.stderr)
    return 1 if errors else 0
