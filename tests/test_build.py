"""notebooks/ is generated from solutions/: in sync, no outputs, no solution text, metadata kept."""
import json
import re
import shutil

import nbformat
import pytest

from course_lib import build
from course_lib.checking.registry import EXERCISES
from course_lib.runtime import REPO_ROOT

SOLUTIONS = sorted((REPO_ROOT / "solutions").glob("*.ipynb"))


def test_notebooks_are_in_sync():
    assert build.stale() == [], "run `python -m course_lib.build`"
    assert build.main(["--check"]) == 0


@pytest.mark.parametrize("path", SOLUTIONS, ids=lambda p: p.name)
def test_student_notebook_is_clean(path):
    student = nbformat.read(REPO_ROOT / "notebooks" / path.name, as_version=4)
    solution = nbformat.read(path, as_version=4)
    assert len(student.cells) == len(solution.cells)
    for s_cell, cell in zip(student.cells, solution.cells):
        assert "BEGIN SOLUTION" not in s_cell.source and "END SOLUTION" not in s_cell.source
        if s_cell.cell_type == "code":
            assert s_cell.outputs == [] and s_cell.execution_count is None
        assert s_cell.metadata.get("nbgrader") == cell.metadata.get("nbgrader")
        if cell.metadata.get("nbgrader", {}).get("solution"):
            assert "raise NotImplementedError()" in s_cell.source
            # the signature and docstring stay, the body between the markers goes
            assert s_cell.source.splitlines()[0] == cell.source.splitlines()[0]


def test_every_exercise_has_a_solution_and_a_check_cell():
    ids = {}
    for path in SOLUTIONS:
        for cell in nbformat.read(path, as_version=4).cells:
            meta = cell.metadata.get("nbgrader")
            if meta:
                assert meta["schema_version"] == 3
                ids[meta["grade_id"]] = (path.stem, meta)
    for ex in EXERCISES.values():
        assert ids[ex.id][0] == ex.notebook and ids[ex.id][1]["solution"]
        check_meta = ids[f"check_{ex.id}"][1]
        assert check_meta["grade"] and check_meta["locked"] and check_meta["points"] == ex.points


def _copy_course(tmp_path):
    for name in ("solutions", "notebooks"):
        shutil.copytree(REPO_ROOT / name, tmp_path / name)
    return tmp_path


def test_check_names_a_stale_notebook(tmp_path, capsys):
    root = _copy_course(tmp_path)
    path = root / "solutions" / "01_spiral.ipynb"
    nb = nbformat.read(path, as_version=4)
    nb.cells[0].source += "\nA new sentence."
    nbformat.write(nb, path)
    assert build.main(["--check", "--root", str(root)]) == 1
    assert "01_spiral.ipynb: out of date" in capsys.readouterr().out
    assert build.main(["--root", str(root)]) == 0
    assert build.main(["--check", "--root", str(root)]) == 0


def test_check_finds_missing_and_orphan_notebooks(tmp_path):
    root = _copy_course(tmp_path)
    (root / "notebooks" / "00_welcome.ipynb").unlink()
    shutil.copy(root / "notebooks" / "01_spiral.ipynb", root / "notebooks" / "99_extra.ipynb")
    problems = build.stale(root)
    assert "00_welcome.ipynb: missing from notebooks/" in problems
    assert "99_extra.ipynb: in notebooks/ but not in solutions/" in problems


def _solution_nb(source, meta=None):
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell(source)
    if meta is not None:
        cell.metadata["nbgrader"] = meta
    nb.cells.append(cell)
    return nb


META = {"grade": False, "grade_id": "x", "locked": False, "schema_version": 3,
        "solution": True, "task": False}


@pytest.mark.parametrize("source,meta,words", [
    ("def f():\n    ### BEGIN SOLUTION\n    return 1\n", META, "never closed"),
    ("def f():\n    return 1\n    ### END SOLUTION\n", None, "without"),
    ("def f():\n    ### BEGIN SOLUTION\n    return 1\n    ### END SOLUTION\n", None,
     "no nbgrader metadata"),
    ("def f():\n    return 1\n", META, "has no ### BEGIN SOLUTION"),
    ("check('mse', f)\n", {**META, "solution": False, "grade": True, "points": 1},
     "must be graded and locked"),
    ("check('nope', f)\n", {**META, "solution": False}, "names no registered exercise"),
])
def test_malformed_solutions_get_clear_messages(source, meta, words):
    with pytest.raises(build.NotebookError, match=words):
        build.student_version(_solution_nb(source, meta), "bad.ipynb")


def _graded_nb(solution_source, setup=True):
    nb = _solution_nb(solution_source, {**META, "grade_id": "mse"})
    nb.cells.insert(0, nbformat.v4.new_code_cell("import torch"))
    if setup:
        nb.cells[0].metadata["tags"] = ["setup"]
    nb.cells.append(nbformat.v4.new_code_cell("check('mse', mse)"))
    nb.cells[-1].metadata["nbgrader"] = {**META, "grade_id": "check_mse", "solution": False,
                                         "grade": True, "locked": True, "points": 1}
    return nb


def test_exercise_cells_must_define_the_function_and_have_a_setup_cell():
    good = "def mse(a, b):\n    ### BEGIN SOLUTION\n    pass\n    ### END SOLUTION\n"
    build.student_version(_graded_nb(good), "00_welcome.ipynb")
    with pytest.raises(build.NotebookError, match="defines `def mse"):
        build.student_version(_graded_nb(good.replace("def mse", "def msq")), "00_welcome.ipynb")
    with pytest.raises(build.NotebookError, match="tagged 'setup'"):
        build.student_version(_graded_nb(good, setup=False), "00_welcome.ipynb")


def test_stub_keeps_indentation():
    nb = _solution_nb("def f(x):\n    \"\"\"doc\"\"\"\n    ### BEGIN SOLUTION\n    y = x\n"
                      "    return y\n    ### END SOLUTION\n", META)
    out = build.student_version(nb, "ok.ipynb").cells[0].source
    assert out == ('def f(x):\n    """doc"""\n'
                   "    # YOUR CODE HERE\n    raise NotImplementedError()")


def test_unreadable_notebook_is_named(tmp_path):
    (tmp_path / "solutions").mkdir()
    (tmp_path / "solutions" / "broken.ipynb").write_text("{not json")
    with pytest.raises(build.NotebookError, match="broken.ipynb: not a readable notebook"):
        build.render(tmp_path)
    assert build.main(["--root", str(tmp_path)]) == 2


def test_duplicate_grade_ids_are_refused():
    with pytest.raises(build.NotebookError, match="already used"):
        seen = {}
        for name in ("a.ipynb", "b.ipynb"):
            build.student_version(_solution_nb(
                "def f():\n    ### BEGIN SOLUTION\n    pass\n    ### END SOLUTION\n", META),
                name, seen)


def test_generated_text_is_stable():
    texts = build.render()
    assert texts == build.render()
    for text in texts.values():
        assert '"output_type"' not in text
        json.loads(text)


def test_a_solution_cell_that_drifts_from_its_exercise_file_is_stale(tmp_path, capsys):
    """One copy of each answer: editing the cell instead of the exercise file is caught, and
    `python -m course_lib.build` puts the exercise file's text back."""
    root = _copy_course(tmp_path)
    path = root / "solutions" / "01_spiral.ipynb"
    nb = nbformat.read(path, as_version=4)
    cell = next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id")
                == "add_noise")
    cell.source = cell.source.replace("* eps", "* eps * 1.0")
    nbformat.write(nb, path)
    assert build.main(["--check", "--root", str(root)]) == 1
    assert "solutions/01_spiral.ipynb cell 'add_noise': differs" in capsys.readouterr().out
    assert build.main(["--root", str(root)]) == 0
    assert build.stale(root) == []
    restored = nbformat.read(path, as_version=4)
    cell = next(c for c in restored.cells if c.metadata.get("nbgrader", {}).get("grade_id")
                == "add_noise")
    assert cell.source == build.solution_cell(EXERCISES["add_noise"])


def test_exercise_files_hold_their_solution_cell():
    for ex in EXERCISES.values():
        text = build.solution_cell(ex)
        # the cell opens with the definition (notebook 08's are decorated: @torch.no_grad())
        assert re.match(rf"(@.*\n)*def {ex.id}\(", text) and "### BEGIN SOLUTION" in text, ex.id
        assert ex.reference.__name__ == ex.id and ex.reference.__module__.startswith(
            "course_lib.exercises."), ex.id
