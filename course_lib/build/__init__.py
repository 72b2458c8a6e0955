"""Keep the three copies of the course in step: exercise files -> solutions/ -> notebooks/.

`python -m course_lib.build` first writes each exercise's solution cell in solutions/ from its
file in course_lib/exercises/ (the text between `# <solution cell>` and `# </solution cell>`),
then rewrites notebooks/ from solutions/. `--check` changes nothing and exits 1, naming each
solution cell that differs from its exercise file and each stale student notebook.
Solution blocks (### BEGIN SOLUTION / ### END SOLUTION) become a stub that raises
NotImplementedError; outputs are cleared; nbgrader metadata (schema 3) is kept and validated.
"""
from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import nbformat

from course_lib import colab
from course_lib.runtime import REPO_ROOT

BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"
CHECK_CALL = re.compile(r"""^\s*check\(\s*["']([\w.-]+)["']""", re.MULTILINE)
KEEP_CELL_METADATA = ("nbgrader", "tags")
CELL_BEGIN, CELL_END = "# <solution cell>", "# </solution cell>"


class NotebookError(ValueError):
    """A solutions notebook breaks the course conventions; the message says where and how."""


def _strip_solution(source: str, where: str, markdown: bool) -> str:
    out, inside = [], False
    for line in source.splitlines(keepends=True):
        if line.strip() == BEGIN:
            if inside:
                raise NotebookError(f"{where}: nested {BEGIN}")
            inside = True
            indent = line[: len(line) - len(line.lstrip())]
            if markdown:
                out.append("YOUR ANSWER HERE\n")
            else:
                out.append(f"{indent}# YOUR CODE HERE\n{indent}raise NotImplementedError()\n")
        elif line.strip() == END:
            if not inside:
                raise NotebookError(f"{where}: {END} without {BEGIN}")
            inside = False
        elif not inside:
            out.append(line)
    if inside:
        raise NotebookError(f"{where}: {BEGIN} is never closed by {END}")
    return "".join(out).rstrip("\n")


def _validate_metadata(cell, where: str, seen: dict[str, str]) -> None:
    meta = cell.metadata.get("nbgrader")
    has_block = BEGIN in cell.source
    if meta is None:
        if has_block:
            raise NotebookError(f"{where}: has a solution block but no nbgrader metadata")
        return
    if meta.get("schema_version") != 3:
        raise NotebookError(f"{where}: nbgrader schema_version must be 3")
    grade_id = meta.get("grade_id")
    if not grade_id:
        raise NotebookError(f"{where}: nbgrader metadata without a grade_id")
    if grade_id in seen:
        raise NotebookError(f"{where}: grade_id {grade_id!r} already used in {seen[grade_id]}")
    seen[grade_id] = where
    if meta.get("solution") and not has_block:
        raise NotebookError(f"{where}: marked as a solution cell but has no {BEGIN} block")
    if has_block and not meta.get("solution"):
        raise NotebookError(f"{where}: has a solution block but nbgrader solution is false")
    if meta.get("grade") and not isinstance(meta.get("points"), (int, float)):
        raise NotebookError(f"{where}: graded cell {grade_id!r} has no points")


def _validate_checks(nb, name: str) -> None:
    """Every check cell is a locked, graded nbgrader cell worth the registry's points, and
    every registered exercise of this notebook has a check cell."""
    from course_lib.checking.registry import EXERCISES

    found = set()
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        for ex_id in CHECK_CALL.findall(cell.source):
            where = f"{name} cell {i}"
            if ex_id not in EXERCISES:
                raise NotebookError(f"{where}: check({ex_id!r}) names no registered exercise")
            meta = cell.metadata.get("nbgrader", {})
            if not (meta.get("grade") and meta.get("locked")):
                raise NotebookError(f"{where}: check cell for {ex_id!r} must be graded and locked")
            if meta.get("points") != EXERCISES[ex_id].points:
                raise NotebookError(f"{where}: check cell for {ex_id!r} is worth "
                                    f"{meta.get('points')} points, the registry says "
                                    f"{EXERCISES[ex_id].points}")
            found.add(ex_id)
    missing = [e.id for e in EXERCISES.values() if e.notebook == Path(name).stem
               and e.id not in found]
    if missing:
        raise NotebookError(f"{name}: no check cell for registered exercise(s) {missing}")
    for ex_id in found:
        cells = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == ex_id]
        if not cells or not re.search(rf"^def {ex_id}\(", cells[0].source, re.MULTILINE):
            raise NotebookError(f"{name}: exercise {ex_id!r} needs a solution cell with "
                                f"grade_id {ex_id!r} that defines `def {ex_id}(...)`")
    if found and not any("setup" in c.metadata.get("tags", []) for c in nb.cells):
        raise NotebookError(f"{name}: no code cell tagged 'setup' (the imports the grader runs)")


def solution_cell(ex) -> str:
    """The solution cell of an exercise as its file holds it (between the two marker lines)."""
    lines = Path(ex.file).read_text(encoding="utf-8").splitlines()
    if lines.count(CELL_BEGIN) != 1 or lines.count(CELL_END) != 1:
        raise NotebookError(f"{ex.file}: needs exactly one '{CELL_BEGIN}' line and one "
                            f"'{CELL_END}' line around the solution cell")
    return "\n".join(lines[lines.index(CELL_BEGIN) + 1: lines.index(CELL_END)]).strip("\n")


def sync_solution_cells(nb, name: str) -> list[str]:
    """Set every solution cell of nb from its exercise file, and its Colab cell from
    course_lib/colab.py; return the ids that changed ('colab' for the Colab cell)."""
    from course_lib.checking.registry import EXERCISES

    changed = [colab.TAG] if colab.sync_cell(nb) else []
    for cell in nb.cells:
        ex = EXERCISES.get(cell.metadata.get("nbgrader", {}).get("grade_id"))
        if ex is None or ex.file is None or ex.notebook != Path(name).stem:
            continue
        text = solution_cell(ex)
        if cell.source != text:
            cell.source = text
            changed.append(ex.id)
    return changed


def student_version(nb, name: str, seen: dict[str, str] | None = None):
    """The student notebook for one solutions notebook (a new object; nb is not changed)."""
    seen = {} if seen is None else seen
    out = nbformat.v4.new_notebook()
    out.metadata = {"kernelspec": {"display_name": "Python 3", "language": "python",
                                   "name": "python3"},
                    "language_info": {"name": "python"}}
    for i, cell in enumerate(nb.cells):
        where = f"{name} cell {i}"
        _validate_metadata(cell, where, seen)
        source = cell.source
        if BEGIN in source or END in source:
            source = _strip_solution(source, where, cell.cell_type == "markdown")
        meta = {k: cell.metadata[k] for k in KEEP_CELL_METADATA if k in cell.metadata}
        if cell.cell_type == "code":
            new = nbformat.v4.new_code_cell(source, metadata=meta)
        elif cell.cell_type == "markdown":
            new = nbformat.v4.new_markdown_cell(source, metadata=meta)
        else:
            new = nbformat.v4.new_raw_cell(source, metadata=meta)
        new.id = cell.get("id") or f"cell-{i}"
        out.cells.append(new)
    _validate_checks(nb, name)
    nbformat.validate(out)
    return out


def read_notebook(path: Path):
    """Read an .ipynb with a message that names the file when it is not a valid notebook."""
    try:
        return nbformat.read(path, as_version=4)
    except Exception as exc:
        raise NotebookError(
            f"{path}: not a readable notebook ({type(exc).__name__}: {exc})") from None


def render_all(root: Path = REPO_ROOT) -> tuple[dict[str, str], dict[str, list[str]]]:
    """({name: student notebook text}, {name: solution cells that differ from their exercise
    files}) for every notebook in solutions/, the students' made from the synced solutions."""
    seen: dict[str, str] = {}
    texts, drift = {}, {}
    for path in sorted((root / "solutions").glob("*.ipynb")):
        nb = read_notebook(path)
        drift[path.name] = sync_solution_cells(nb, path.name)
        texts[path.name] = nbformat.writes(student_version(nb, path.name, seen)) + "\n"
    return texts, drift


def render(root: Path = REPO_ROOT) -> dict[str, str]:
    """{file name: student notebook text} for every notebook in solutions/."""
    return render_all(root)[0]


def stale(root: Path = REPO_ROOT) -> list[str]:
    """What is out of step: solution cells that differ from their exercise files, and
    notebooks/ files that are missing, out of date or have no source."""
    texts, drift = render_all(root)
    problems = [f"solutions/{name} cell {ex_id!r}: differs from "
                + ("course_lib/colab.py" if ex_id == colab.TAG else "its exercise file")
                for name, ids in drift.items() for ex_id in ids]
    for name, text in texts.items():
        path = root / "notebooks" / name
        if not path.exists():
            problems.append(f"{name}: missing from notebooks/")
        elif path.read_text(encoding="utf-8") != text:
            problems.append(f"{name}: out of date")
    for path in sorted((root / "notebooks").glob("*.ipynb")):
        if path.name not in texts:
            problems.append(f"{path.name}: in notebooks/ but not in solutions/")
    return problems


def _write_solution_cells(root: Path) -> None:
    for path in sorted((root / "solutions").glob("*.ipynb")):
        nb = read_notebook(path)
        changed = sync_solution_cells(nb, path.name)
        if changed:
            path.write_text(nbformat.writes(nb) + "\n", encoding="utf-8")
            print(f"wrote solutions/{path.name}: cells {', '.join(changed)}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true",
                        help="exit 1 if notebooks/ is stale; change nothing")
    parser.add_argument("--root", type=Path, default=REPO_ROOT, help="course root folder")
    args = parser.parse_args(argv)
    try:
        if args.check:
            problems = stale(args.root)
            for p in problems:
                print(f"stale: {p}")
            if problems:
                print("run `python -m course_lib.build` to regenerate them")
                return 1
            print("solutions/ is in sync with course_lib/exercises/, notebooks/ with solutions/")
            return 0
        _write_solution_cells(args.root)
        texts = render(args.root)
    except NotebookError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    (args.root / "notebooks").mkdir(exist_ok=True)
    for path in (args.root / "notebooks").glob("*.ipynb"):
        if path.name not in texts:
            path.unlink()
            print(f"removed notebooks/{path.name} (no source in solutions/)")
    for name, text in texts.items():
        (args.root / "notebooks" / name).write_text(text, encoding="utf-8")
        print(f"wrote notebooks/{name}")
    return 0

