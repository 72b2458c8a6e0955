"""The student notebooks run top to bottom with errors only in check cells, only "not attempted".

The solutions/ notebooks are run by nbval (configured in pyproject.toml), where any error fails.
nbval's NBVAL_RAISES_EXCEPTION cannot prove that a blank fails, so the blanks are executed
here with nbclient and every cell's outputs are inspected.
"""
import os
import sys

import nbformat
import pytest
from nbclient import NotebookClient

from course_lib.runtime import REPO_ROOT

pytestmark = pytest.mark.slow  # each test starts a notebook kernel

STUDENT = sorted((REPO_ROOT / "notebooks").glob("*.ipynb"))


def _is_check_cell(cell) -> bool:
    meta = cell.metadata.get("nbgrader", {})
    return cell.cell_type == "code" and meta.get("grade") and meta.get("locked")


@pytest.mark.parametrize("path", STUDENT, ids=lambda p: p.name)
def test_blank_notebook_fails_only_as_not_attempted(path):
    nb = nbformat.read(path, as_version=4)
    assert os.environ.get("COURSE_FAST") == "1"
    client = NotebookClient(nb, timeout=300, allow_errors=True, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}})
    client.execute()
    n_checks = 0
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        errors = [o for o in cell.outputs if o.output_type == "error"]
        if _is_check_cell(cell):
            n_checks += 1
            assert [e.ename for e in errors] == ["NotAttempted"], (i, cell.source, errors)
            text = "".join(o.get("text", "") for o in cell.outputs if o.output_type == "stream")
            assert "not attempted yet" in text, (i, text)
        else:
            assert not errors, f"cell {i} failed in the blank notebook:\n{cell.source}\n" + \
                "\n".join(f"{e.ename}: {e.evalue}" for e in errors)
        warned = [o.get("text", "") for o in cell.outputs if o.output_type == "stream"
                  and o.get("name") == "stderr" and "Warning" in o.get("text", "")]
        assert not warned, f"cell {i} prints a warning a learner would learn to ignore: {warned}"
    assert n_checks > 0


def test_notebooks_run_in_the_test_interpreter():
    # the kernels must see the same course_lib and packages as pytest
    import jupyter_client.kernelspec as ks

    spec = ks.KernelSpecManager().get_kernel_spec("python3")
    assert spec.argv[0] in ("python", sys.executable) or spec.argv[0].startswith(sys.prefix)
