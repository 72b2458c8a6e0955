"""The child's end of the class grader: `python -m course_lib.grade.child JOB.json`.

Confined (course_lib.grade.sandbox), it runs a student's answer cells in notebook order in one
namespace per notebook, after the notebook's setup cells; probes each function on cases built
before any graded code ran; saves the plain outcomes for the parent (worker.py) to judge.
"""
from __future__ import annotations

import copy
import json
import os
import sys
from pathlib import Path

from course_lib.grade.cells import MAX_ERROR, Capped, cell_error, compile_answer
from course_lib.grade.worker import Limits


def _plain_tensors(value):
    """Tensor subclasses become plain tensors: torch.load(weights_only=True) accepts no others."""
    import torch

    if isinstance(value, torch.Tensor):
        return value.as_subclass(torch.Tensor)
    if isinstance(value, list):
        return [_plain_tensors(v) for v in value]
    return value


def _snapshot() -> dict:
    return {name: (mod, dict(vars(mod))) for name, mod in sys.modules.items()
            if (name == "course_lib" or name.startswith("course_lib."))
            and not name.startswith("course_lib.grade")}  # the grader's own: left alone


def _restore(snapshot: dict) -> None:
    """Undo what graded code did to course_lib's modules (not to their classes): keeps one
    exercise's monkeypatching from reaching the next one's probe."""
    for name, (mod, namespace) in snapshot.items():
        sys.modules[name] = mod
        vars(mod).clear()
        vars(mod).update(namespace)


def _run_one(answer: dict, setup, setup_error, cases, snapshot, shared, ns: dict) -> dict:
    """Run one answer cell in its notebook's namespace ns (which holds the earlier answers,
    as the learner's notebook does) and probe the function it defines."""
    from course_lib.checking import run_cases
    from course_lib.checking.registry import EXERCISES

    ex_id, filename = answer["exercise"], f"<{answer['label']}: answer {answer['exercise']}>"
    record = {"id": ex_id, "outcomes": None, "error": None, "notes": []}
    shared.update(used=0, exceeded=False)
    shared["violations"].clear()
    sys.stdout, sys.stderr = shared["stdout"], shared["stderr"]
    ns.pop(ex_id, None)  # only this cell may define the function graded here
    if setup_error:  # the course's fault, not the student's: the parent says so
        record["error"], record["grader_error"] = setup_error, True
    else:
        try:
            exec(setup, ns)
        except BaseException as exc:  # worked at start-up, so graded code broke something
            record["error"] = (f"the setup cells failed before the answer ran "
                               f"({exc!r})")[:MAX_ERROR]
    if record["error"] is None:
        try:
            exec(compile_answer(answer["source"], filename, ns), ns)
        except BaseException as exc:  # SystemExit and KeyboardInterrupt included
            if callable(ns.get(ex_id)):  # the function was defined before the error
                record["notes"].append(cell_error(exc, filename)
                                       + "; the function it had defined was graded")
            else:
                record["error"] = cell_error(exc, filename)
    _restore(snapshot)  # patches made by the cell's top level end here, before probing
    fn = ns.get(ex_id)
    if record["error"] is None and not callable(fn):
        own = sorted(k for k, v in ns.items() if callable(v) and getattr(
            v, "__code__", None) is not None and v.__code__.co_filename == filename)
        record["error"] = (f"the answer cell defines no function named `{ex_id}`"
                           + (f" (it defines: {', '.join(own)})" if own else ""))
    if record["error"] is None:
        try:
            ex = EXERCISES[ex_id]
            outs = run_cases(ex.probed(fn), copy.deepcopy(cases), ex.watch())
            record["outcomes"] = {name: {**o.to_plain(), "value": _plain_tensors(o.value)}
                                  for name, o in outs.items()}
        except BaseException as exc:
            record["error"] = f"the function raised {type(exc).__name__}: {exc}"[:MAX_ERROR]
    _restore(snapshot)
    sys.stdout, sys.stderr = shared["stdout"], shared["stderr"]
    record["violations"] = list(shared["violations"])[:5]
    record["output_exceeded"] = bool(shared["exceeded"])
    return record


def _first_namespace(stem: str, exercises: dict) -> dict:
    """A notebook's namespace before its first answer: every exercise of the notebook bound
    to its reference, so an answer that calls an earlier one never meets a NameError."""
    return {"__name__": "__main__",
            **{e.id: e.reference for e in exercises.values() if e.notebook == stem}}


def _passes(ex, record: dict, refs: dict) -> bool:
    """Whether the answer passed its check: decides only which function later answers of the
    same notebook call (the parent judges every verdict again, in its own process). A refused
    read, write or process, or a flood of output, fails it as the parent will."""
    from course_lib.checking import Outcome, judge

    if (record["error"] is not None or record["outcomes"] is None or record["violations"]
            or record["output_exceeded"]):
        return False
    try:
        outs = {k: Outcome.from_plain(v) for k, v in record["outcomes"].items()}
        return judge(ex, outs, refs).passed
    except Exception:
        return False


def main(argv: list[str] | None = None) -> int:
    """Child entry point: `python -m course_lib.grade.child JOB.json`."""
    argv = sys.argv[1:] if argv is None else argv
    job = json.loads(Path(argv[0]).read_text(encoding="utf-8"))
    scratch, limits = job["scratch"], Limits(**job["limits"])
    sys.path[:] = [p for p in sys.path if p not in ("", scratch)]  # no imports from scratch
    sys.dont_write_bytecode = True
    progress = os.fdopen(job["progress_fd"], "w", buffering=1)
    import faulthandler

    faulthandler.enable()  # a segfault leaves a traceback in stderr.txt for the report
    from course_lib.exercises.common import probes_drawn

    with probes_drawn(limits.seed):  # probes, references and judging: all on the grading draw
        return _grade(job, scratch, limits, progress)


def _references(path, cases: dict, run_cases, exercises) -> dict:
    """The references' outcomes the parent judges by (its file, read before the fence), or,
    without that file, computed here on the same probes."""
    import torch

    from course_lib.checking import Outcome

    saved = torch.load(path, weights_only=True) if path and os.path.isfile(path) else {}
    return {ex_id: {k: Outcome.from_plain(d) for k, d in saved[ex_id].items()}
            if ex_id in saved else
            run_cases(exercises[ex_id].probed(exercises[ex_id].reference), copy.deepcopy(c))
            for ex_id, c in cases.items()}


def _grade(job: dict, scratch: str, limits: Limits, progress) -> int:
    from course_lib.grade import sandbox  # (torch is loaded already: course_lib imports it)

    sandbox.set_limits(limits.memory_mb, limits.file_mb)
    sandbox.die_with_parent(job["parent_pid"])
    import torch

    torch.set_num_threads(1)
    # What reads outside the fence on first use does so now: torch's cpuinfo (/proc, /sys),
    # matplotlib's config and font cache (MPLCONFIGDIR, shared by the grading processes).
    torch.mm(torch.ones(2, 2), torch.ones(2, 2))
    import matplotlib.font_manager  # noqa: F401

    from course_lib.checking import run_cases
    from course_lib.checking.registry import EXERCISES

    setups, setup_errors = {}, {}
    for stem, source in job["setups"].items():  # imports now, outside any exercise's time
        try:
            setups[stem] = compile(source, f"<setup cells of solutions/{stem}.ipynb>", "exec")
            exec(setups[stem], {"__name__": "__main__"})
        except Exception as exc:
            setup_errors[stem] = (f"grader error: the setup cells of solutions/{stem}.ipynb "
                                  f"failed under a {limits.memory_mb} MiB memory limit "
                                  f"({type(exc).__name__}: {exc})")[:MAX_ERROR]
    # Probe inputs (and the reference's outcomes on them) exist before any graded code runs.
    cases = {a["exercise"]: EXERCISES[a["exercise"]].probe_cases() for a in job["answers"]}
    refs = _references(job.get("references"), cases, run_cases, EXERCISES)
    namespaces = {}  # one per notebook: a later answer may call an earlier one, as in Jupyter
    snapshot = _snapshot()
    shared = {"budget": int(limits.output_mb * 2**20), "used": 0, "exceeded": False}
    shared["stdout"] = Capped(sys.stdout, shared)
    shared["stderr"] = Capped(sys.stderr, shared)
    shared["violations"] = []
    abi = sandbox.confine(scratch, shared["violations"], kernel=limits.landlock)
    progress.write(f"ready {'landlock' if abi else 'audit-hook'}\n")
    for i, answer in enumerate(job["answers"]):
        progress.write(f"start {answer['exercise']}\n")
        stem, ex = answer["notebook"], EXERCISES[answer["exercise"]]
        ns = namespaces.setdefault(stem, _first_namespace(stem, EXERCISES))
        record = _run_one(answer, setups.get(stem), setup_errors.get(stem), cases[ex.id],
                          snapshot, shared, ns)
        if not _passes(ex, record, refs[ex.id]):  # later answers get the reference instead
            ns[ex.id] = ex.reference
        torch.save(record, os.path.join(scratch, "results", f"{i}.pt"))
        progress.write(f"done {answer['exercise']}\n")
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
