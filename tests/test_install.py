"""The course installs where learners already are: pyproject.toml declares every package that
course_lib and the notebooks import, in ranges that admit requirements.txt's pins; and (slow)
in a fresh virtual environment with torch installed first, the notebooks' Colab cell (made to
believe it runs on Colab) clones the course and pip-installs it, after which notebook 01 runs
in fast mode against the installed copy, finding data/ from the notebook's folder."""
from __future__ import annotations

import ast
import importlib.metadata
import json
import os
import re
import shutil
import subprocess
import sys
import time
import types

import nbformat
import pytest
import tomllib
from packaging.requirements import Requirement
from packaging.version import Version

from course_lib import colab
from course_lib.runtime import REPO_ROOT

PROJECT = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
DECLARED = {Requirement(d).name.lower(): Requirement(d) for d in PROJECT["dependencies"]}
# imported name -> the declared distribution that brings it (directly or as its dependency)
PROVIDED_BY = {"PIL": "pillow", "IPython": "ipywidgets", "huggingface_hub": "diffusers",
               "packaging": "transformers"}


def _pins() -> dict[str, str]:
    pins = {}
    for line in (REPO_ROOT / "requirements.txt").read_text(encoding="utf-8").splitlines():
        m = re.match(r"^([A-Za-z0-9_.-]+)==(\S+)", line)
        if m:
            pins[m[1].lower()] = m[2]
    return pins


def _imports(source: str) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_every_range_admits_the_pins():
    pins = _pins()
    for name, req in DECLARED.items():
        assert name in pins, f"{name} is declared but requirements.txt does not pin it"
        assert req.specifier.contains(pins[name]), f"{req} excludes the pinned {pins[name]}"
        assert req.specifier, f"{name} has no range"
    assert "torch" in DECLARED and "diffusers" in DECLARED


def test_everything_course_lib_and_the_notebooks_import_is_declared():
    sources = [p.read_text(encoding="utf-8") for p in (REPO_ROOT / "course_lib").rglob("*.py")]
    for path in (REPO_ROOT / "solutions").glob("*.ipynb"):
        sources += [c.source for c in nbformat.read(path, as_version=4).cells
                    if c.cell_type == "code" and not c.source.lstrip().startswith(("%", "!"))]
    imported = set().union(*map(_imports, sources)) - set(sys.stdlib_module_names)
    imported -= {"course_lib", "__future__"}
    # maintainers' tools, not what a learner's course needs: they come with requirements.txt
    imported -= {"nbclient", "pytest"}
    # bench/spiral.py's point of comparison, installed by hand into a scratch folder (--no-deps)
    imported -= {"smalldiffusion"}
    missing = {m for m in imported if PROVIDED_BY.get(m, m).lower() not in DECLARED}
    assert not missing, f"imported but not in pyproject.toml's dependencies: {missing}"


def test_the_colab_cell_does_nothing_off_colab(monkeypatch, capsys):
    monkeypatch.delitem(sys.modules, "google.colab", raising=False)
    monkeypatch.setenv("COURSE_DATA", "")  # so that monkeypatch restores the variable
    monkeypatch.delenv("COURSE_DATA")
    ns: dict = {}
    exec(colab.CELL, ns)
    assert capsys.readouterr().out == "" and "COURSE_DATA" not in os.environ
    assert "COURSE_REPO" not in ns  # the branch never ran
    assert colab.REPO_URL in colab.CELL


def test_the_colab_cell_would_clone_and_install(monkeypatch, capsys):
    """On Colab (faked), with data/ missing: one line, then the clone and the install."""
    calls = []
    monkeypatch.setitem(sys.modules, "google.colab", types.ModuleType("google.colab"))
    monkeypatch.setattr(subprocess, "run", lambda cmd, **kw: calls.append(cmd))
    monkeypatch.setenv("COURSE_DATA", "")  # so that monkeypatch restores the variable
    monkeypatch.delenv("COURSE_DATA")
    exec(colab.CELL, {})
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 1 and out[0].startswith("Colab: installing the course")
    assert calls[0][:2] == ["git", "clone"] and colab.REPO_URL in calls[0]
    assert calls[1][1:4] == ["-m", "pip", "install"]
    assert os.environ["COURSE_DATA"] == "/content/diffusion-course/data"


def _copy_working_tree(dest):
    """The repository as it stands (tracked and new files, not what git ignores)."""
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=REPO_ROOT,
                           capture_output=True, check=True).stdout.decode().split("\0")
    for name in filter(None, files):
        src = REPO_ROOT / name
        if src.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / name)
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t", "-c", "init.defaultBranch=main"]
    for args in (["init", "-q"], ["add", "-A"], ["commit", "-q", "-m", "snapshot"]):
        subprocess.run(git + args, cwd=dest, check=True)


def _site_with_torch(folder):
    """A folder holding links to this environment's torch and every distribution it needs
    (their packages and .dist-info, so that pip sees them installed)."""
    folder.mkdir()
    todo, seen = ["torch"], set()
    while todo:
        dist = importlib.metadata.distribution(todo.pop())
        if dist.metadata["Name"].lower() in seen:
            continue
        seen.add(dist.metadata["Name"].lower())
        todo += [r.name for r in map(Requirement, dist.requires or [])
                 if r.marker is None or r.marker.evaluate({"extra": ""})]
        top = {f.parts[0] for f in dist.files if f.parts[0] not in ("..", "__pycache__")}
        for name in top - {p.name for p in folder.iterdir()}:
            if not name.endswith(".pth"):
                (folder / name).symlink_to(dist.locate_file(name))
    assert Version(importlib.metadata.version("torch")).public == _pins()["torch"]
    return folder


RUN_NOTEBOOK = """
import sys, nbformat
from nbclient import NotebookClient
nb = nbformat.read(sys.argv[1], as_version=4)
nb.cells.append(nbformat.v4.new_code_cell(
    "import course_lib, course_lib.runtime as r; print(course_lib.__file__); print(r.DATA_DIR)"))
NotebookClient(nb, timeout=600, kernel_name="python3",
               resources={"metadata": {"path": sys.argv[2]}}).execute()
nbformat.write(nb, sys.argv[3])
"""


@pytest.mark.slow  # a fresh venv: torch, the course's dependencies, a notebook run
def test_pip_install_into_a_venv_with_torch_then_notebook_01(tmp_path):
    t0 = time.perf_counter()
    src, clone, venv = tmp_path / "src", tmp_path / "clone", tmp_path / "v"
    _copy_working_tree(src)
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    py = str(venv / "bin" / "python")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "COURSE_"))}
    # PIP_NO_COMPILE=0 is pip's spelling of --no-compile (no .pyc files written at install:
    # 20 s less; the notebook compiles what it imports)
    env.update(PATH=f"{venv / 'bin'}:{env['PATH']}", VIRTUAL_ENV=str(venv), PIP_NO_COMPILE="0")
    pins = _pins()

    def pip(*args):
        subprocess.run([py, "-m", "pip", "install", "-q", *args], env=env, check=True)

    # The learner's own torch, there first, outside the venv (as Colab's is, in the system's
    # dist-packages): this environment's pinned torch and what it requires, linked into a
    # folder on the venv's path. Same for pip as an install, 35 s less than unpacking it.
    site = _site_with_torch(tmp_path / "learners_torch")
    (venv / "lib" / f"python{sys.version_info.major}.{sys.version_info.minor}" / "site-packages"
     / "learners_torch.pth").write_text(f"{site}\n", encoding="utf-8")
    torch_before = subprocess.run([py, "-c", "import torch; print(torch.__version__)"], env=env,
                                  capture_output=True, text=True, check=True).stdout
    # The notebooks' Colab cell, faked onto Colab, with the repository moved to the snapshot:
    # it clones the course and runs `pip install` on the clone.
    cell = colab.CELL.replace(colab.REPO_URL, f"file://{src}").replace(
        "/content/diffusion-course", str(clone))
    fake = "import sys, types; sys.modules['google.colab'] = types.ModuleType('google.colab')\n"
    run = subprocess.run([py, "-c", fake + cell + "\nprint(os.environ['COURSE_DATA'])"],
                         env=env, capture_output=True, text=True, timeout=1800)
    assert run.returncode == 0, run.stderr[-3000:]
    lines = run.stdout.splitlines()
    assert lines[0].startswith("Colab: installing the course") and len(lines) == 2
    assert lines[1] == str(clone / "data") and (clone / "data" / "README.md").is_file()
    installed = f"{time.perf_counter() - t0:.0f} s"
    torch_after = subprocess.run([py, "-c", "import torch; print(torch.__version__)"], env=env,
                                 capture_output=True, text=True, check=True).stdout
    assert torch_after == torch_before  # the course kept the torch it found
    pip(f"ipykernel=={pins['ipykernel']}", f"nbclient=={pins['nbclient']}")  # to run a notebook

    out = tmp_path / "01_ran.ipynb"
    run_env = {**env, "COURSE_FAST": "1", "MPLBACKEND": "Agg", "OMP_NUM_THREADS": "1"}
    run = subprocess.run([py, "-c", RUN_NOTEBOOK, str(clone / "solutions" / "01_spiral.ipynb"),
                          str(clone / "solutions"), str(out)], env=run_env, cwd=tmp_path,
                         capture_output=True, text=True, timeout=1800)
    assert run.returncode == 0, run.stderr[-3000:]
    cells = nbformat.read(out, as_version=4).cells
    colab_cell = next(c for c in cells if colab.TAG in c.metadata.get("tags", []))
    assert colab_cell.outputs == []  # not on Colab: the cell did nothing
    where = "".join(o.get("text", "") for o in cells[-1].outputs).split()
    assert "site-packages" in where[0] and str(REPO_ROOT) not in where[0]
    assert where[1] == str(clone / "data")  # found from the notebook's folder
    print(json.dumps({"install_s": installed, "total_s": round(time.perf_counter() - t0)}))
