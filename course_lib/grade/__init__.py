"""Grade a whole class: `python -m course_lib.grade SUBMISSIONS_DIR` (one folder per student).

Finds each answer by grade_id (else by function name), runs it in a confined child process
(course_lib.grade.worker), judges the plain outcomes here; writes grades.csv and grades.json.
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import re
import shutil
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

from course_lib.checking import Exercise, Outcome, judge, run_cases
from course_lib.grade.worker import Answer, ChildResult, Limits, open_regular, run_answers
from course_lib.runtime import REPO_ROOT

MAX_NOTEBOOK_MB = 50
MAX_DEPTH = 4  # how deep inside a student's folder a notebook is looked for
OUTCOME_FIELDS = {"value": None, "type_name": str, "error": (str, type(None)),
                  "not_implemented": bool, "mutated": bool, "requires_grad": bool}


@dataclass
class CourseNotebook:
    """A notebook of the course: its setup cells (from solutions/) and its exercises."""
    stem: str
    setup: str
    exercises: list[Exercise]


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


class Unreadable(Exception):
    """A submitted file that is not a notebook the grader can read; the message says why."""


# ----------------------------------------------------------------------------- the course

def _source(cell) -> str:
    src = cell.get("source", "") if isinstance(cell, dict) else ""
    if isinstance(src, list):
        src = "".join(s for s in src if isinstance(s, str))
    return src if isinstance(src, str) else ""


def _metadata(cell, key: str):
    meta = cell.get("metadata") if isinstance(cell, dict) else None
    return meta.get(key) if isinstance(meta, dict) else None


def load_course(root: Path = REPO_ROOT, only: list[str] | None = None) -> list[CourseNotebook]:
    """The graded notebooks of solutions/ (all, or those named in `only`: '01_spiral', '01')."""
    from course_lib.checking.registry import EXERCISES

    stems = sorted(p.stem for p in (root / "solutions").glob("*.ipynb"))
    if only:
        wanted = {name.removesuffix(".ipynb") for name in only}
        unknown = [w for w in wanted if not any(s == w or s.split("_")[0] == w for s in stems)]
        if unknown:
            raise ValueError(f"unknown notebook(s) {', '.join(sorted(unknown))}; "
                             f"the course has {', '.join(stems)}")
        stems = [s for s in stems if s in wanted or s.split("_")[0] in wanted]
    course = []
    for stem in stems:
        exercises = [ex for ex in EXERCISES.values() if ex.notebook == stem]
        if not exercises:
            continue
        cells = json.loads((root / "solutions" / f"{stem}.ipynb").read_text("utf-8"))["cells"]
        setup = "\n\n".join(_source(c) for c in cells if c.get("cell_type") == "code"
                            and "setup" in (_metadata(c, "tags") or []))
        course.append(CourseNotebook(stem, setup, exercises))
    return course


# ----------------------------------------------------------------------------- submissions

def find_students(submissions: Path, stems: list[str]) -> list[tuple[str, Path]]:
    """(name, folder) per student: each sub-folder; or the folder itself when it is one
    student's (it holds a course notebook, or nbgrader's assignment folder named after one),
    as when grading solutions/."""
    if any((submissions / f"{s}.ipynb").is_file() or (submissions / s).is_dir()
           for s in stems):
        return [(submissions.resolve().name, submissions)]
    return [(d.name, d) for d in sorted(submissions.iterdir())
            if d.is_dir() and not d.is_symlink() and not d.name.startswith(".")]


def find_notebook(folder: Path, stem: str) -> tuple[Path | None, list[str]]:
    """The student's copy of `stem`.ipynb anywhere in their folder (nbgrader's layout puts it
    in an assignment sub-folder); failing that, a renamed copy such as '01_spiral (1).ipynb'."""
    exact, renamed = [], []
    for dirpath, dirnames, filenames in os.walk(folder):  # never follows symlinked folders
        depth = len(Path(dirpath).relative_to(folder).parts)
        dirnames[:] = sorted(d for d in dirnames if not d.startswith(".") and depth < MAX_DEPTH)
        for name in sorted(filenames):
            if name == f"{stem}.ipynb":
                exact.append((depth, Path(dirpath) / name))
            elif name.startswith(stem) and name.endswith(".ipynb"):
                renamed.append((depth, Path(dirpath) / name))
    found = sorted(exact) or sorted(renamed)
    if not found:
        return None, []
    path, notes = found[0][1], []
    if not exact:
        notes.append(f"graded {path.relative_to(folder)} (no file named exactly {stem}.ipynb)")
    if len(found) > 1:
        notes.append(f"{len(found)} candidate files; graded {path.relative_to(folder)}")
    return path, notes


def read_cells(path: Path) -> list:
    """The cells of a submitted notebook, read-only and defensively (it may be anything)."""
    if path.is_symlink():
        raise Unreadable("is a symbolic link; the grader does not follow links in submissions")
    f = open_regular(path, MAX_NOTEBOOK_MB * 2**20)  # a FIFO would block the whole class
    if f is None:
        raise Unreadable(f"is not a regular file of at most {MAX_NOTEBOOK_MB} MB")
    with f:
        data = f.read()
    try:
        nb = json.loads(data.decode("utf-8"))
    except UnicodeDecodeError:
        raise Unreadable("is not UTF-8 text, so not a notebook") from None
    except json.JSONDecodeError as exc:
        raise Unreadable(f"is not valid JSON ({exc.msg} at line {exc.lineno}); it may have "
                         "been cut short or edited by hand") from None
    cells = nb.get("cells") if isinstance(nb, dict) else None
    if not isinstance(cells, list):
        raise Unreadable("is JSON but not a notebook in nbformat 4 (it has no list of cells)")
    return cells


def find_answer(cells: list, ex_id: str, label: str) -> tuple[Answer | None, list[str]]:
    """The answer cell for ex_id: the code cell with nbgrader grade_id ex_id; where that
    metadata is gone, the code cell that defines `def ex_id(` (the last one before the check
    cell). Returns (None, [reason]) when there is neither."""
    code = [(i, c) for i, c in enumerate(cells)
            if isinstance(c, dict) and c.get("cell_type") == "code"]
    defines = re.compile(rf"^def\s+{re.escape(ex_id)}\s*\(", re.MULTILINE)
    by_id = [(i, c) for i, c in code
             if (_metadata(c, "nbgrader") or {}).get("grade_id") == ex_id]
    named = [(i, c) for i, c in code if defines.search(_source(c))]
    notes = []
    if by_id and (defines.search(_source(by_id[0][1])) or not named):
        i, cell = by_id[0]
    elif named:
        check = re.compile(rf"""check\(\s*["']{re.escape(ex_id)}["']""")
        checks = [i for i, c in code if check.search(_source(c))]
        before = [(i, c) for i, c in named if not checks or i < checks[0]] or named
        i, cell = before[-1]
        notes.append(f"found by its function name in cell {i} (the cell's nbgrader metadata "
                     f"is missing or names another exercise)")
    else:
        return None, [f"no answer found: no code cell has grade_id '{ex_id}' and none "
                      f"defines `def {ex_id}(...)`"]
    source = _source(cell)
    if re.search(rf"\b\w+\.{re.escape(ex_id)}\s*\(", source):
        notes.append(f"the answer calls a library function named {ex_id}; check that the work "
                     "is the learner's own")
    return Answer(ex_id, "", source, f"{label} cell {i}"), notes


# ----------------------------------------------------------------------------- judging

def _outcomes(record: dict, refs: dict[str, Outcome]) -> dict[str, Outcome] | None:
    """Outcome objects from the child's plain record, or None if they are not well formed."""
    raw = record.get("outcomes")
    if not isinstance(raw, dict) or set(raw) != set(refs):
        return None
    outs = {}
    for name, d in raw.items():
        if not isinstance(d, dict) or set(d) - set(OUTCOME_FIELDS):
            return None
        if any(kind is not None and k in d and not isinstance(d[k], kind)
               for k, kind in OUTCOME_FIELDS.items()):
            return None
        outs[name] = Outcome.from_plain(d)
    return outs


def judge_result(ex: Exercise, result: ChildResult, refs: dict[str, Outcome],
                 limits: Limits) -> tuple[bool, list[str]]:
    """(passed, reasons) for one exercise. The verdict is made here, in the grader's own
    process, from plain data: nothing the child did to course_lib can change it."""
    if result.record is None:
        return False, [result.reason or "no result came back"]
    record, reasons = result.record, []
    if isinstance(record.get("error"), str):
        reasons.append(record["error"])
    violations = record.get("violations")
    if isinstance(violations, list) and violations:
        reasons += [f"refused by the grader: {v}" for v in violations if isinstance(v, str)]
    if record.get("output_exceeded") is not False:
        reasons.append(f"printed more than {limits.output_mb:g} MiB of output")
    if record.get("outcomes") is None:
        return False, reasons or ["no result came back"]
    outs = _outcomes(record, refs)
    if outs is None:
        return False, reasons + ["the grader could not read this exercise's results (garbled)"]
    errors = " ".join(o.error or "" for o in outs.values())
    if "MemoryError" in errors or "can't allocate memory" in errors:
        reasons.insert(0, f"ran out of memory (limit {limits.memory_mb} MiB)")
    if "File too large" in errors:  # RLIMIT_FSIZE: Python ignores SIGXFSZ, so writes fail
        reasons.insert(0, f"wrote a file or printed more than {limits.file_mb} MiB")
    try:
        report = judge(ex, outs, refs)
    except Exception as exc:  # a value no property could handle: the answer's fault
        return False, reasons + [f"could not judge the results ({type(exc).__name__}: {exc})"]
    if report.not_attempted:
        reasons.append("not attempted yet (the stub still raises NotImplementedError)")
    else:
        reasons += report.failures()
    return report.passed and not reasons, reasons


# ----------------------------------------------------------------------------- grading

def grade_student(folder: Path, course: list[CourseNotebook], refs: dict, limits: Limits,
                  workdir: Path, on_done=lambda ex_id: None) -> dict[str, Grade]:
    """Every exercise of every course notebook for one student's folder. All the answers
    found run in one child process (a fresh one after a timeout or crash), because starting
    Python and importing torch costs more than grading a notebook's exercises."""
    grades: dict[str, Grade] = {}
    answers: dict[str, Answer] = {}
    notes: dict[str, list[str]] = {}

    def zero(ex, reasons, notes=(), grader_error=False):
        grades[ex.id] = Grade(ex.id, ex.notebook, 0, ex.points, False, list(reasons),
                              list(notes), None, grader_error)
        on_done(ex.id)

    for nb in course:
        path, nb_notes = find_notebook(folder, nb.stem)
        if path is None:
            for ex in nb.exercises:
                zero(ex, [f"notebook not submitted ({nb.stem}.ipynb not found)"])
            continue
        try:
            cells = read_cells(path)
        except (Unreadable, OSError) as exc:
            for ex in nb.exercises:
                zero(ex, [f"{path.name} {exc}" if isinstance(exc, Unreadable)
                          else f"{path.name} could not be read ({exc})"], nb_notes)
            continue
        for ex in nb.exercises:
            answer, why = find_answer(cells, ex.id, path.name)
            if answer is None:
                zero(ex, why, nb_notes)
            else:
                answer.notebook = nb.stem
                answers[ex.id], notes[ex.id] = answer, nb_notes + why
    setups = {nb.stem: nb.setup for nb in course}
    results = run_answers(setups, list(answers.values()), limits, workdir, on_done) \
        if answers else {}
    for nb in course:
        for ex in nb.exercises:
            if ex.id not in answers:
                continue
            result = results.get(ex.id) or ChildResult(None, "no result came back")
            passed, reasons = judge_result(ex, result, refs[ex.id], limits)
            record = result.record or {}
            child_notes = record.get("notes") if isinstance(record.get("notes"), list) else []
            grades[ex.id] = Grade(
                ex.id, ex.notebook, ex.points if passed else 0, ex.points, passed, reasons,
                notes[ex.id] + [n for n in child_notes if isinstance(n, str)], result.seconds,
                result.grader_error or record.get("grader_error") is True, result.fence)
    return {ex.id: grades[ex.id] for nb in course for ex in nb.exercises}


def grade_class(submissions: Path, course: list[CourseNotebook], limits: Limits,
                workers: int = 1, progress: bool = True) -> dict[str, dict[str, Grade]]:
    """{student: {exercise id: Grade}} for every student folder, `workers` at a time."""
    from tqdm.auto import tqdm

    students = find_students(submissions, [nb.stem for nb in course])
    refs = {ex.id: run_cases(ex.reference, ex.cases()) for nb in course for ex in nb.exercises}
    n_ex = sum(len(nb.exercises) for nb in course)
    bar = tqdm(total=len(students) * n_ex, unit="exercise", desc="grading",
               disable=not progress, file=sys.stderr)
    lock = threading.Lock()

    def tick(_ex_id):
        with lock:
            bar.update(1)

    workdir = Path(tempfile.mkdtemp(prefix="course-grade-"))
    (workdir / "mplconfig").mkdir()
    pool = ThreadPoolExecutor(max_workers=max(1, workers))
    try:
        futures = {name: pool.submit(grade_student, folder, course, refs, limits, workdir,
                                     tick) for name, folder in students}
        return {name: fut.result() for name, fut in futures.items()}
    finally:
        pool.shutdown(wait=True, cancel_futures=True)  # on Ctrl-C: finish only what runs
        bar.close()
        shutil.rmtree(workdir, ignore_errors=True)


# ----------------------------------------------------------------------------- reports

def write_reports(out: Path, grades: dict[str, dict[str, Grade]],
                  course: list[CourseNotebook], limits: Limits, submissions: Path) -> None:
    """grades.csv (a row per student, a column per exercise, total) and grades.json."""
    out.mkdir(parents=True, exist_ok=True)
    exercises = [ex for nb in course for ex in nb.exercises]
    with open(out / "grades.csv", "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["student"] + [ex.id for ex in exercises] + ["total"])
        for name, g in grades.items():
            writer.writerow([name] + [g[ex.id].points for ex in exercises]
                            + [sum(x.points for x in g.values())])
    report = {
        "submissions": str(submissions.resolve()),
        "max_points": {ex.id: ex.points for ex in exercises},
        "max_total": sum(ex.points for ex in exercises),
        "limits": asdict(limits),
        "sandbox": sorted({g.sandbox for gs in grades.values() for g in gs.values()
                           if g.sandbox}),
        "students": {name: {"total": sum(x.points for x in g.values()),
                            "exercises": {k: asdict(v) for k, v in g.items()}}
                     for name, g in grades.items()},
    }
    (out / "grades.json").write_text(json.dumps(report, indent=1, ensure_ascii=False) + "\n",
                                     encoding="utf-8")


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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m course_lib.grade", description=__doc__.splitlines()[0])
    parser.add_argument("submissions", type=Path, metavar="SUBMISSIONS_DIR",
                        help="one sub-folder per student, each holding their .ipynb files")
    parser.add_argument("--notebooks", nargs="+", metavar="NAME",
                        help="grade only these notebooks (e.g. 01_spiral or 01); default all")
    parser.add_argument("--out", type=Path, default=Path("grading_out"),
                        help="folder for grades.csv and grades.json (default: grading_out)")
    parser.add_argument("--timeout", type=float, default=60.0,
                        help="wall-clock seconds per exercise (default 60)")
    parser.add_argument("--memory-mb", type=int, default=4096,
                        help="address-space limit per grading process in MiB (default 4096)")
    parser.add_argument("--max-output-mb", type=float, default=1.0,
                        help="output an exercise may print, in MiB (default 1)")
    parser.add_argument("--workers", type=int, default=1,
                        help="students graded in parallel, one single-threaded process each")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)

    subs = args.submissions
    if not subs.is_dir():
        print(f"error: {subs} is not a folder", file=sys.stderr)
        return 2
    out, subs_real = args.out.resolve(), subs.resolve()
    if out == subs_real or subs_real in out.parents:
        print(f"error: --out {args.out} is inside {subs}; the grader never writes there",
              file=sys.stderr)
        return 2
    try:
        course = load_course(only=args.notebooks)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    limits = Limits(timeout=args.timeout, memory_mb=args.memory_mb,
                    output_mb=args.max_output_mb)
    t0 = time.perf_counter()
    grades = grade_class(subs, course, limits, args.workers, not args.no_progress)
    write_reports(out, grades, course, limits, subs)
    print(summary(grades, course))
    print(f"graded in {time.perf_counter() - t0:.1f} s; reports: {args.out / 'grades.csv'}, "
          f"{args.out / 'grades.json'}")
    errors = [f"{name}/{ex_id}: {g.reasons[0]}" for name, gs in grades.items()
              for ex_id, g in gs.items() if g.grader_error]
    for line in errors:
        print(f"grader error (not the student's fault; grade again): {line}", file=sys.stderr)
    return 1 if errors else 0

