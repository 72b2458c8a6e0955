"""The class grader's reports: grades.csv, grades.json and the summary table it prints."""
from __future__ import annotations

import csv
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from course_lib.grade.submissions import CourseNotebook
from course_lib.grade.worker import Limits


@dataclass
class Grade:
    """One student's result for one exercise; `reasons` explain every lost point."""
    exercise: str
    notebook: str
    points: int
    max_points: int
    passed: bool
    reasons: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    seconds: float | None = None
    grader_error: bool = False
    sandbox: str | None = None  # landlock or audit-hook: how the child's writes were fenced


def build_report(grades: dict[str, dict[str, Grade]], course: list[CourseNotebook],
                 limits: Limits, submissions: Path) -> dict:
    """grades.json's content: per student and exercise, with the draw and the limits."""
    exercises = [ex for nb in course for ex in nb.exercises]
    return {
        "submissions": str(submissions.resolve()),
        "max_points": {ex.id: ex.points for ex in exercises},
        "max_total": sum(ex.points for ex in exercises),
        "seed": limits.seed,  # the probe draw: --seed repeats this grading exactly
        "limits": asdict(limits),
        "sandbox": sorted({g.sandbox for gs in grades.values() for g in gs.values()
                           if g.sandbox}),
        "students": {name: {"total": sum(x.points for x in g.values()),
                            "exercises": {k: asdict(v) for k, v in g.items()}}
                     for name, g in grades.items()},
    }


def write_report(out: Path, report: dict) -> None:
    """grades.csv (a row per student, a column per exercise in course order, the total) and
    grades.json, from build_report's dict (or a merge of several)."""
    out.mkdir(parents=True, exist_ok=True)
    ids = list(report["max_points"])
    with open(out / "grades.csv", "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["student"] + ids + ["total"])
        for name, student in report["students"].items():
            writer.writerow([name] + [student["exercises"][k]["points"] for k in ids]
                            + [student["total"]])
    (out / "grades.json").write_text(json.dumps(report, indent=1, ensure_ascii=False) + "\n",
                                     encoding="utf-8")


def write_reports(out: Path, grades: dict[str, dict[str, Grade]],
                  course: list[CourseNotebook], limits: Limits, submissions: Path,
                  extra: dict | None = None) -> None:
    """grades.csv and grades.json for a grading; `extra` adds keys (a shard's own record)."""
    write_report(out, {**build_report(grades, course, limits, submissions), **(extra or {})})


def summary(grades: dict[str, dict[str, Grade]], course: list[CourseNotebook]) -> str:
    """A table: one row per student, points per notebook and in total; then what was lost."""
    cols = [nb.stem for nb in course]
    width = max([len("student")] + [len(n) for n in grades]) + 2
    lines = ["student".ljust(width) + "".join(c.rjust(max(len(c), 7) + 2) for c in cols)
             + "total".rjust(9)]
    max_total = sum(ex.points for nb in course for ex in nb.exercises)
    for name, g in grades.items():
        row = name.ljust(width)
        for nb in course:
            got = sum(g[ex.id].points for ex in nb.exercises)
            row += f"{got}/{sum(ex.points for ex in nb.exercises)}".rjust(max(len(nb.stem), 7)
                                                                          + 2)
        lines.append(row + f"{sum(x.points for x in g.values())}/{max_total}".rjust(9))
    if grades:
        totals = [sum(x.points for x in g.values()) for g in grades.values()]
        lines.append(f"{len(grades)} students; mean {sum(totals) / len(totals):.1f}/{max_total}")
        missed = {ex.id: sum(not g[ex.id].passed for g in grades.values())
                  for nb in course for ex in nb.exercises}
        worst = [f"{k} ({v})" for k, v in sorted(missed.items(), key=lambda kv: -kv[1]) if v]
        if worst:
            lines.append("students who lost points, by exercise: " + ", ".join(worst[:8]))
    return "\n".join(lines)
