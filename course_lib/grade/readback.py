"""What the grader's parent reads back from a child, all of which graded code may have
written or forged: files opened defensively, and records whose text is capped in length before
it can reach grades.json (course_lib.grade.worker)."""
from __future__ import annotations

import os
import signal
import stat
from pathlib import Path

MAX_ERROR = 600  # characters of an error message or a note (which may quote one)
MAX_LINE = 300  # characters of a refusal, a type name or any other string
MAX_ITEMS = 20  # strings kept from a list of them


def open_regular(path: Path, max_bytes: int):
    """Open a file that untrusted code may have made, or None: no link, no FIFO (which would
    block the grader), nothing larger than max_bytes."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOFOLLOW", 0))
    except OSError:
        return None
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode) or st.st_size > max_bytes:
        os.close(fd)
        return None
    return os.fdopen(fd, "rb")


def tail(path: Path, n: int = 2000) -> str:
    """The last n bytes of a file the child wrote: never read a flood whole."""
    f = open_regular(path, 2**62)
    if f is None:
        return ""
    with f:
        f.seek(max(0, f.seek(0, os.SEEK_END) - n))
        return f.read(n).decode("utf-8", "replace")


def last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1][:200] if lines else ""


def death_reason(returncode: int, stderr_tail: str, memory_mb: int, file_mb: int) -> str:
    """Why the child stopped in the middle of an exercise, in words for the report."""
    if returncode < 0:
        sig = -returncode
        try:
            name = signal.Signals(sig).name
        except ValueError:
            name = f"signal {sig}"
        if sig == signal.SIGKILL:
            return ("the process was killed (SIGKILL) while running this exercise: the code "
                    "killed its own process, or the machine ran out of memory")
        if sig == getattr(signal, "SIGXFSZ", None):
            return (f"the process wrote a file or printed more than {file_mb} MiB "
                    "and was stopped")
        detail = last_line(stderr_tail)
        return (f"the process crashed ({name}) while running this exercise; a memory limit of "
                f"{memory_mb} MiB applies" + (f" (last message: {detail})" if detail else ""))
    return (f"the process exited (exit code {returncode}) in the middle of this exercise: "
            "os._exit() or a crash in C code ends the grading of that exercise")


def _cap(value, limit: int = MAX_LINE):
    """A string cut to `limit` characters; a list's first strings cut likewise; else as is."""
    if isinstance(value, str):
        return value if len(value) <= limit else value[: limit - 3] + "..."
    if isinstance(value, list):
        return [_cap(v, limit) for v in value[:MAX_ITEMS]]
    return value


def capped(record: dict) -> dict:
    """The record with every string that may reach a report capped: the error, notes and
    refusals, and each outcome's fields but its value (which the parent judges, not shows)."""
    out = {k: _cap(v, MAX_ERROR if k in ("error", "notes") else MAX_LINE)
           for k, v in record.items() if k != "outcomes"}
    outcomes = record.get("outcomes")
    if isinstance(outcomes, dict):
        outcomes = {_cap(name): {k: v if k == "value" else
                                 _cap(v, MAX_ERROR if k == "error" else MAX_LINE)
                                 for k, v in o.items()} if isinstance(o, dict) else o
                    for name, o in outcomes.items()}
    if "outcomes" in record:
        out["outcomes"] = outcomes
    return out


def load_record(path: Path, exercise: str, max_mb: int) -> tuple[dict | None, str | None]:
    """Read the child's results with torch.load(weights_only=True): plain data only, so a
    forged file can carry values but no code; its text comes back capped."""
    import torch

    garbled = "the grader could not read this exercise's results (missing or garbled file)"
    f = open_regular(path, max_mb * 2**20)
    if f is None:
        return None, garbled
    try:
        with f:
            record = torch.load(f, weights_only=True, map_location="cpu")
    except Exception:
        return None, garbled
    if not isinstance(record, dict) or record.get("id") != exercise:
        return None, garbled
    return capped(record), None
