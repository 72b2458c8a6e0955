"""course_lib and the tests stay ruff-clean (rules in pyproject.toml), and no code calls .cuda()."""
import subprocess
import sys

from course_lib.runtime import REPO_ROOT


def test_ruff_clean():
    result = subprocess.run([sys.executable, "-m", "ruff", "check", "course_lib", "tests"],
                            cwd=REPO_ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_no_hard_coded_cuda():
    files = list((REPO_ROOT / "course_lib").rglob("*.py")) + \
        list((REPO_ROOT / "solutions").glob("*.ipynb"))
    offenders = [str(p) for p in files if ".cuda()" in p.read_text(encoding="utf-8")]
    assert not offenders, f"use course_lib.get_device() instead of .cuda(): {offenders}"
