"""Shared test set-up: fast mode for every notebook kernel the tests start, the `slow` mark on
every notebook run (nbval items) and on the checks of the whole Stable Diffusion loop (each
runs the pipeline under three schedulers), so `pytest -m "not slow"` is the quick lane.

The suite runs on pytest-xdist workers (`-n auto --dist loadfile` in pyproject.toml), one
torch thread each, so that two workers on two cores do not fight over them. A file goes to
one worker as a whole: nbval runs one notebook's cells in one kernel, in order, and a module
fixture is built once.
"""
import os

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


def pytest_collection_modifyitems(config, items):
    for item in items:
        if item.path.suffix == ".ipynb" or "[generate_latents" in item.nodeid:
            item.add_marker(pytest.mark.slow)
