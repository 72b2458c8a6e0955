"""Gradescope's end of the export: `python -m course_lib.grade.autograder` grades the one
submission under /autograder/submission with the class grader, as `python -m
course_lib.grade` would grade that folder, and writes results.json in Gradescope's format.

The fields written (Gradescope's autograder specification): top level `score` (the total),
`execution_time` (s), `output` (one line for the student), `visibility`,
`stdout_visibility`, `extra_data` (the draw and sandbox, for the instructor) and `tests`, one
per exercise with `name`, `number`, `score`, `max_score`, `status`, `output` (the reasons
for every lost point, as the check cell prints them) and `visibility`.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

from course_lib.grade import Grade, grade_class
from course_lib.grade.options import draw_seed
from course_lib.grade.submissions import CourseNotebook, load_course
from course_lib.grade.worker import Limits
from course_lib.runtime import REPO_ROOT

VISIBILITY = {"visible", "hidden", "after_due_date", "after_published"}


def results_json(grades: dict[str, Grade], course: list[CourseNotebook], limits: Limits,
                 seconds: float, visibility: str = "visible") -> dict:
    """One submission's Grades as Gradescope's results.json."""
    tests = []
    for nb in course:
        for k, ex in enumerate(nb.exercises, 1):
            g = grades[ex.id]
            lines = (["passed"] if g.passed else list(g.reasons)) + \
                [f"note: {n}" for n in g.notes]
            tests.append({"name": f"{nb.stem}: {ex.id}",
                          "number": f"{int(nb.stem.split('_')[0])}.{k}",
                          "score": g.points, "max_score": ex.points,
                          "status": "passed" if g.passed else "failed",
                          "output": "\n".join(lines), "visibility": visibility})
    total = sum(t["score"] for t in tests)
    max_total = sum(t["max_score"] for t in tests)
    return {"score": total, "execution_time": math.ceil(seconds),
            "output": f"{total}/{max_total} points over {len(tests)} exercises in "
                      f"{', '.join(nb.stem for nb in course)}. Each exercise was run on fresh "
                      "inputs, as the notebook's check runs it; below, what every lost point "
                      "was lost for.",
            "visibility": visibility, "stdout_visibility": "hidden",
            "extra_data": {"seed": limits.seed,
                           "sandbox": sorted({g.sandbox for g in grades.values() if g.sandbox}),
                           "limits": {"timeout": limits.timeout, "memory_mb": limits.memory_mb}},
            "tests": tests}


def problems(results) -> list[str]:
    """What breaks the format Gradescope reads (the fields this module writes)."""
    if not isinstance(results, dict) or not isinstance(results.get("tests"), list):
        return ["not an object with a list of tests"]
    out = []
    number = (int, float)
    if not isinstance(results.get("score"), number):
        out.append("score is not a number")
    for key in ("visibility", "stdout_visibility"):
        if results.get(key, "visible") not in VISIBILITY:
            out.append(f"{key} is not one of {sorted(VISIBILITY)}")
    for i, t in enumerate(results["tests"]):
        if not isinstance(t, dict):
            out.append(f"test {i} is not an object")
            continue
        for key, kind in (("name", str), ("output", str), ("score", number),
                          ("max_score", number)):
            if not isinstance(t.get(key), kind):
                out.append(f"test {i}: {key} missing or not a {kind}")
        if t.get("visibility", "visible") not in VISIBILITY:
            out.append(f"test {i}: visibility {t.get('visibility')!r}")
        if t.get("status", "passed") not in ("passed", "failed"):
            out.append(f"test {i}: status {t.get('status')!r}")
    if not out and results["score"] != sum(t["score"] for t in results["tests"]):
        out.append("score is not the sum of the tests' scores")
    return out


def _write(results: dict, path: Path) -> int:
    bad = problems(results)
    if bad:
        print("grader error: results.json would not be valid: " + "; ".join(bad))
        return 1
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m course_lib.grade.autograder",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--submission", type=Path, default=Path("/autograder/submission"))
    parser.add_argument("--results", type=Path,
                        default=Path("/autograder/results/results.json"))
    parser.add_argument("--config", type=Path, default=REPO_ROOT / "autograder.json",
                        help="what to grade and the limits (written by the export)")
    parser.add_argument("--copy", type=Path, metavar="RESULTS",
                        help="only check a results.json written elsewhere and copy it")
    args = parser.parse_args(argv)
    if args.copy:
        try:
            results = json.loads(args.copy.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            print(f"grader error: no readable results ({exc})")
            return 1
        return _write(results, args.results)
    config = json.loads(args.config.read_text(encoding="utf-8"))
    course = load_course(only=config["notebooks"])
    seed = config.get("seed")
    limits = Limits(**config["limits"], seed=seed if seed is not None else draw_seed())
    t0 = time.perf_counter()
    grades = grade_class(args.submission, course, limits, workers=1, progress=False,
                         students=[("submission", args.submission)])["submission"]
    seconds = time.perf_counter() - t0
    for ex_id, g in grades.items():  # for the instructor: results/stdout
        print(f"{ex_id}: {g.points}/{g.max_points}" + "".join(f"\n  {r}" for r in g.reasons))
    print(f"graded in {seconds:.1f} s on probe draw --seed {limits.seed}")
    errors = [f"{ex_id}: {g.reasons[0]}" for ex_id, g in grades.items() if g.grader_error]
    if errors:  # not the student's fault: no results, so Gradescope shows a failed run
        print("grader error (regrade this submission): " + "; ".join(errors))
        return 1
    return _write(results_json(grades, course, limits, seconds,
                               config.get("visibility", "visible")), args.results)


if __name__ == "__main__":
    sys.exit(main())
