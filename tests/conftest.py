"""Shared test set-up: fast mode for every notebook kernel the tests start, the `slow` mark on
every notebook run (nbval items) and on the checks of the whole Stable Diffusion loop (each
runs the pipeline under three schedulers), so `pytest -m "not slow"` is the quick lane.

The suite runs on pytest-xdist workers (`-n auto` in pyproject.toml), one torch thread each,
so that two workers on two cores do not fight over them. Items that must share one process
go to one worker as a whole (see pytest_xdist_make_scheduler below): the cells of one notebook
and the tests of a file with a module-wide fixture. Everything else is spread test by test.
"""
import os
from pathlib import Path

import pytest

os.environ["COURSE_FAST"] = "1"
os.environ.setdefault("MPLBACKEND", "Agg")
if os.environ.get("PYTEST_XDIST_WORKER"):
    # one thread per worker, in this process and in the notebook kernels it starts
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[var] = "1"


def pytest_configure(config):
    if os.environ.get("PYTEST_XDIST_WORKER"):
        import torch

        torch.set_num_threads(1)


_TESTS = Path(__file__).parent
# test files with a module-wide fixture: their tests stay on one worker, which builds it once
SHARED = {p.name for p in _TESTS.glob("test_*.py") if 'scope="module"' in p.read_text()}


def pytest_collection_modifyitems(config, items):
    for item in items:
        if item.path.suffix == ".ipynb" or "[generate_latents" in item.nodeid:
            item.add_marker(pytest.mark.slow)


def pytest_xdist_make_scheduler(config, log):
    """Under `-n` with the default `--dist load`: send each notebook (nbval runs its cells in
    one kernel, in order) and each file in SHARED to one worker as a whole, and spread every
    other test on its own. (xdist's own `--dist loadgroup` does not work with pytest 9, whose
    node ids it can no longer rename.)"""
    if config.getvalue("dist") != "load":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class NotebooksTogether(LoadScopeScheduling):
        def _split_scope(self, nodeid):
            file = nodeid.split("::", 1)[0]
            return file if file.endswith(".ipynb") or Path(file).name in SHARED else nodeid

    return NotebooksTogether(config, log)
