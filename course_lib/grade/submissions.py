"""What the class grader reads: the course's notebooks (setup cells and exercises, from
solutions/) and each student's folder, notebooks and answer cells, checked before anything runs.
"""
from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

from course_lib.checking import Exercise
from course_lib.grade.worker import Answer, open_regular
from course_lib.runtime import REPO_ROOT

MAX_NOTEBOOK_MB = 50
MAX_DEPTH = 4  # how deep inside a student's folder a notebook is looked for


@dataclass
class CourseNotebook:
    """A notebook of the course: its setup cells (from solutions/) and its exercises."""
    stem: str
    setup: str
    exercises: list[Exercise]


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
    return Answer(ex_id, "", source, f"{label} cell {i}"), notes
