"""The parent's end of the class grader's child process: `run_answers` starts a confined
child (course_lib.grade.child) for one student's answers, times each exercise from the
child's "start"/"done" messages and kills it on a timeout; it reads back plain records only.
"""
from __future__ import annotations

import json
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch

from course_lib.grade.readback import death_reason, last_line, load_record, open_regular, tail
from course_lib.runtime import REPO_ROOT

__all__ = ["Answer", "ChildResult", "Limits", "open_regular", "run_answers"]


@dataclass
class Limits:
    """What one exercise may use. Times in seconds, sizes in MiB. allow_library_calls: an
    answer that hands its work to the course's reference or a library scores (with a note).
    seed: the probe draw answers are graded on (0 would be the notebooks' own probes).
    landlock=False leaves the kernel's fence off: the audit hook alone guards (for tests)."""
    timeout: float = 60.0
    memory_mb: int = 4096
    output_mb: float = 1.0
    file_mb: int = 64
    startup_timeout: float = 120.0
    allow_library_calls: bool = False
    seed: int = 0
    landlock: bool = True


@dataclass
class Answer:
    """One exercise's answer cell, as the parent found it in the student's notebook."""
    exercise: str
    notebook: str  # whose setup cells run first, e.g. "01_spiral"
    source: str
    label: str  # where it came from, shown in tracebacks: "01_spiral.ipynb cell 5"


@dataclass
class ChildResult:
    """What came back for one exercise: the child's record, or why there is none."""
    record: dict | None = None
    reason: str | None = None
    seconds: float | None = None
    grader_error: bool = False
    fence: str | None = None  # what fenced the child: landlock or audit-hook
    judge_notes: list = field(default_factory=list)  # the parent's notes on a passed answer


# ============================================================================ parent side

def _child_env(scratch: Path, mplconfig: Path) -> dict[str, str]:
    """Only what the child needs: the grader's other variables (tokens, paths to the
    instructor's files) stay out of graded code's reach."""
    env = {k: v for k, v in os.environ.items()
           if k in ("PATH", "LANG", "LANGUAGE", "TZ", "LD_LIBRARY_PATH") or k.startswith("LC_")}
    home, tmp = scratch / "home", scratch / "tmp"
    home.mkdir()
    tmp.mkdir()
    env.update(
        HOME=str(home), TMPDIR=str(tmp), TMP=str(tmp), TEMP=str(tmp),
        PYTHONPATH=str(REPO_ROOT), PYTHONDONTWRITEBYTECODE="1", PYTHONNOUSERSITE="1",
        COURSE_FAST="1", COURSE_DEVICE="cpu", CUDA_VISIBLE_DEVICES="",  # RLIMIT_AS breaks CUDA
        OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1",
        MPLBACKEND="Agg", MPLCONFIGDIR=str(mplconfig), HF_HUB_OFFLINE="1",
    )
    return env


def _kill(proc: subprocess.Popen) -> None:
    """SIGKILL the child's whole process group (it is a session leader): nothing survives."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    proc.kill()
    proc.wait()


REFERENCES = "references.pt"  # in the grading folder: the references' outcomes, plain


def save_references(refs: dict, workdir: Path) -> None:
    """The references' outcomes on this draw's probes, which the parent judges by, for every
    child to read before its fence: the child then need not recompute them per student."""
    torch.save({ex_id: {case: o.to_plain() for case, o in outs.items()}
                for ex_id, outs in refs.items()}, workdir / REFERENCES)


def _run_child(setups: dict[str, str], todo: list[Answer], limits: Limits, workdir: Path,
               on_done: Callable[[str], None]) -> tuple[dict[str, ChildResult], list[Answer]]:
    """One child for `todo`, in order. Returns the results it produced and the answers it
    never reached (after a timeout or crash), for a fresh child to run."""
    scratch = Path(tempfile.mkdtemp(prefix="child-", dir=workdir))
    results: dict[str, ChildResult] = {}
    (scratch / "results").mkdir()
    env = _child_env(scratch, workdir / "mplconfig")
    read_end, write_end = os.pipe()
    job = {"setups": setups, "scratch": str(scratch), "limits": limits.__dict__,
           "answers": [a.__dict__ for a in todo], "progress_fd": write_end,
           "parent_pid": os.getpid(), "references": str(workdir / REFERENCES)}
    (scratch / "job.json").write_text(json.dumps(job), encoding="utf-8")
    with open(scratch / "stdout.txt", "wb") as out, open(scratch / "stderr.txt", "wb") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "course_lib.grade.child", str(scratch / "job.json")],
            cwd=scratch, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=err,
            pass_fds=(write_end,), start_new_session=True)
    os.close(write_end)
    nxt, current, started_any, timed_out, fence = 0, None, False, False, None
    t_start = time.monotonic()
    deadline = t_start + limits.startup_timeout
    buf = b""
    try:
        while nxt < len(todo):
            wait = deadline - time.monotonic()
            if wait <= 0:
                timed_out = True
                break
            ready, _, _ = select.select([read_end], [], [], min(wait, 1.0))
            if not ready:
                continue
            chunk = os.read(read_end, 4096)
            if not chunk:  # the child closed the pipe: it ended (or will be made to)
                try:
                    proc.wait(timeout=max(0.0, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    timed_out = True
                break
            *lines, buf = (buf + chunk).split(b"\n")
            buf = buf[-256:]  # garbage written to the pipe by graded code stays bounded
            for line in lines:
                # Only the expected next message counts, so graded code that writes to the
                # pipe can at most end its own exercise early, never extend a time limit.
                word, _, ex_id = line.decode("utf-8", "replace").partition(" ")
                now = time.monotonic()
                if word == "start" and current is None and ex_id == todo[nxt].exercise:
                    current, t_start, started_any = ex_id, now, True
                    deadline = now + limits.timeout
                elif word == "done" and current is not None and ex_id == current:
                    rec, why = load_record(scratch / "results" / f"{nxt}.pt", ex_id,
                                           limits.file_mb)
                    results[ex_id] = ChildResult(rec, why, round(now - t_start, 3),
                                                 fence=fence)
                    on_done(ex_id)
                    current, nxt = None, nxt + 1
                    deadline = now + limits.timeout  # until the next "start" or the exit
                elif word == "ready" and not started_any:
                    deadline, fence = now + limits.timeout, ex_id[:20]
    finally:
        if proc.poll() is None:
            _kill(proc)
        os.close(read_end)
        stderr_tail = tail(scratch / "stderr.txt")
        shutil.rmtree(scratch, ignore_errors=True)
    if nxt >= len(todo):
        return results, []
    if started_any and (current is not None or timed_out):
        # The exercise under way (or, stuck between two, the next one) is charged, so every
        # child makes progress and a class can never loop.
        current = todo[nxt].exercise
        seconds = round(time.monotonic() - t_start, 3)
        why = (f"timed out after {limits.timeout:g} s (the process was stopped)" if timed_out
               else death_reason(proc.returncode, stderr_tail, limits.memory_mb,
                                 limits.file_mb))
        results[current] = ChildResult(None, why, seconds, fence=fence)
        on_done(current)
        return results, todo[nxt + 1:]
    if started_any:  # exited between two exercises: a fresh child goes on from the next
        return results, todo[nxt:]
    why = ("grader error: the grading process did not start"
           + (" in time" if timed_out else f" (exit code {proc.returncode})")
           + (f": {last_line(stderr_tail)}" if last_line(stderr_tail) else ""))
    if any(m in stderr_tail for m in ("MemoryError", "can't allocate", "failed to map")):
        why += f" (raise --memory-mb, now {limits.memory_mb})"
    for answer in todo:
        results[answer.exercise] = ChildResult(None, why, None, grader_error=True)
        on_done(answer.exercise)
    return results, []


def run_answers(setups: dict[str, str], answers: list[Answer], limits: Limits, workdir: Path,
                on_done: Callable[[str], None] = lambda ex_id: None) -> dict[str, ChildResult]:
    """Run a student's answers, in order, in as few confined children as possible: one
    normally, one more after each timeout or crash. `setups` maps each notebook to its setup
    cells' source; `workdir` holds the scratch folders."""
    results: dict[str, ChildResult] = {}
    todo = list(answers)
    while todo:
        done, todo = _run_child(setups, todo, limits, workdir, on_done)
        results.update(done)
    return results
