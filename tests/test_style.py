"""course_lib and the tests stay ruff-clean (rules in pyproject.toml), and no code calls .cuda()."""
import subprocess
import sys

import nbformat

from course_lib.runtime import REPO_ROOT


def test_ruff_clean():
    result = subprocess.run([sys.executable, "-m", "ruff", "check", "course_lib", "tests"],
                            cwd=REPO_ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_no_hard_coded_cuda():
    sources = {str(p): p.read_text(encoding="utf-8")
               for p in (REPO_ROOT / "course_lib").rglob("*.py")}
    for path in (REPO_ROOT / "solutions").glob("*.ipynb"):
        cells = nbformat.read(path, as_version=4).cells
        sources[str(path)] = "\n".join(c.source for c in cells if c.cell_type == "code")
    offenders = [name for name, text in sources.items() if ".cuda()" in text]
    assert not offenders, f"use course_lib.get_device() instead of .cuda(): {offenders}"
