"""Grade a whole class: `python -m course_lib.grade SUBMISSIONS_DIR` (one folder per student).

Finds each answer by grade_id (else by function name), runs it in a confined child process
(course_lib.grade.worker), judges the plain outcomes here; writes grades.csv and grades.json.
`--shard I/N` and `merge` split a class over a batch system (shard.py); `gradescope OUT.zip`
exports the grader as a Gradescope autograder (gradescope.py, autograder.py).
"""
from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from course_lib.checking import Exercise, Outcome, judge, run_cases
from course_lib.exercises.common import probes_drawn
from course_lib.grade.options import (
    add_grading_options,
    course_or_refuse,
    folder_problem,
    limits_from,
)
from course_lib.grade.report import Grade, summary, write_reports
from course_lib.grade.shard import parse_shard, shard_students
from course_lib.grade.submissions import (
    CourseNotebook,
    Unreadable,
    find_answer,
    find_notebook,
    find_students,
    load_course,
    read_cells,
)
from course_lib.grade.worker import Answer, ChildResult, Limits, run_answers, save_references

__all__ = ["CourseNotebook", "Grade", "Unreadable", "find_answer", "find_notebook",
           "find_students", "grade_class", "grade_student", "judge_result", "load_course",
           "main", "read_cells", "summary", "write_reports"]

OUTCOME_FIELDS = {"value": None, "type_name": str, "error": (str, type(None)),
                  "not_implemented": bool, "mutated": bool, "requires_grad": bool,
                  "aliased": bool, "rng_touched": bool, "proxies": list, "changed": list,
                  "device": str}


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
        report = judge(ex, outs, refs, allow_proxies=limits.allow_library_calls)
    except Exception as exc:  # a value no property could handle: the answer's fault
        return False, reasons + [f"could not judge the results ({type(exc).__name__}: {exc})"]
    if report.not_attempted:
        reasons.append("not attempted yet (the stub still raises NotImplementedError)")
    else:
        reasons += report.failures()
    passed = report.passed and not reasons
    if passed and report.notes:  # scored under --allow-library-calls: the record says why
        result.judge_notes = list(report.notes)
    return passed, reasons


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
            child_notes = child_notes + result.judge_notes
            grades[ex.id] = Grade(
                ex.id, ex.notebook, ex.points if passed else 0, ex.points, passed, reasons,
                notes[ex.id] + [n for n in child_notes if isinstance(n, str)], result.seconds,
                result.grader_error or record.get("grader_error") is True, result.fence)
    return {ex.id: grades[ex.id] for nb in course for ex in nb.exercises}


def grade_class(submissions: Path, course: list[CourseNotebook], limits: Limits,
                workers: int = 1, progress: bool = True,
                students: list[tuple[str, Path]] | None = None) -> dict[str, dict[str, Grade]]:
    """{student: {exercise id: Grade}} for every student folder (or for `students`, as
    (name, folder) pairs), `workers` at a time, on the probes of draw `limits.seed`."""
    if students is None:
        students = find_students(submissions, [nb.stem for nb in course])
    with probes_drawn(limits.seed):
        return _grade_class(students, course, limits, workers, progress)


def _grade_class(students, course, limits, workers, progress):
    from tqdm.auto import tqdm

    refs = {ex.id: run_cases(ex.probed(ex.reference), ex.probe_cases())
            for nb in course for ex in nb.exercises}
    n_ex = sum(len(nb.exercises) for nb in course)
    bar = tqdm(total=len(students) * n_ex, unit="exercise", desc="grading",
               disable=not progress, file=sys.stderr)
    lock = threading.Lock()

    def tick(_ex_id):
        with lock:
            bar.update(1)

    workdir = Path(tempfile.mkdtemp(prefix="course-grade-"))
    (workdir / "mplconfig").mkdir()
    save_references(refs, workdir)
    pool = ThreadPoolExecutor(max_workers=max(1, workers))
    try:
        futures = {name: pool.submit(grade_student, folder, course, refs, limits, workdir,
                                     tick) for name, folder in students}
        return {name: fut.result() for name, fut in futures.items()}
    finally:
        pool.shutdown(wait=True, cancel_futures=True)  # on Ctrl-C: finish only what runs
        bar.close()
        shutil.rmtree(workdir, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["gradescope"]:
        from course_lib.grade.gradescope import main as export
        return export(argv[1:])
    if argv[:1] == ["merge"]:
        from course_lib.grade.shard import merge_main
        return merge_main(argv[1:])
    parser = argparse.ArgumentParser(
        prog="python -m course_lib.grade", description=__doc__.splitlines()[0],
        epilog="Also: `python -m course_lib.grade gradescope OUT.zip [options]` (the Gradescope "
               "autograder) and `python -m course_lib.grade merge DIR... --out DIR` (shards).")
    parser.add_argument("submissions", type=Path, metavar="SUBMISSIONS_DIR",
                        help="one sub-folder per student, each holding their .ipynb files")
    parser.add_argument("--out", type=Path, default=Path("grading_out"),
                        help="folder for grades.csv and grades.json (default: grading_out)")
    parser.add_argument("--workers", type=int, default=1,
                        help="students graded in parallel, one single-threaded process each")
    parser.add_argument("--shard", type=parse_shard, metavar="I/N",
                        help="grade only the I-th of N slices of the class (by folder name); "
                             "give every shard the same --seed, then `merge` their --out folders")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_grading_options(parser)
    args = parser.parse_args(argv)

    subs = args.submissions
    if not subs.is_dir():
        print(f"error: {subs} is not a folder", file=sys.stderr)
        return 2
    problem = folder_problem(subs, args.out)
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    course = course_or_refuse(args.notebooks)
    if course is None:
        return 2
    limits, shard = limits_from(args), None
    students = find_students(subs, [nb.stem for nb in course])
    if args.shard:
        students, shard = shard_students(students, *args.shard)
    t0 = time.perf_counter()
    grades = grade_class(subs, course, limits, args.workers, not args.no_progress, students)
    write_reports(args.out.resolve(), grades, course, limits, subs,
                  {"shard": shard} if shard else None)
    print(summary(grades, course))
    print(f"graded in {time.perf_counter() - t0:.1f} s on probe draw --seed {limits.seed}"
          + (f", shard {args.shard[0]}/{args.shard[1]}" if shard else "") + "; "
          f"reports: {args.out / 'grades.csv'}, {args.out / 'grades.json'}")
    errors = [f"{name}/{ex_id}: {g.reasons[0]}" for name, gs in grades.items()
              for ex_id, g in gs.items() if g.grader_error]
    for line in errors:
        print(f"grader error (not the student's fault; grade again): {line}", file=sys.stderr)
    return 1 if errors else 0

