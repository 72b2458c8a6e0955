"""Shared test set-up: fast mode for every notebook kernel the tests start, and the `slow`
mark on every notebook run (nbval items) and on the checks of the whole Stable Diffusion loop
(each runs the pipeline under three schedulers), so `pytest -m "not slow"` is the quick lane.

The suite runs on pytest-xdist's workers (pyproject.toml: `-n auto --dist loadgroup`), each on
one thread, so two workers share two cores without slowing each other. The tests of files
whose items are independent are spread one by one; every other file (a notebook's cells, which
share one kernel, or a module whose fixtures grade a whole class once) stays on one worker."""
import os

import pytest

os.environ["COURSE_FAST"] = "1"
os.environ.setdefault("MPLBACKEND", "Agg")
if os.environ.get("PYTEST_XDIST_WORKER"):  # before torch is imported: one thread per worker
    os.environ["OMP_NUM_THREADS"] = os.environ["MKL_NUM_THREADS"] = "1"

SPREAD = {"test_checks.py", "test_draws.py", "test_hints.py", "test_notebooks.py"}


def pytest_collection_modifyitems(config, items):
    for item in items:
        if item.path.suffix == ".ipynb" or "[generate_latents" in item.nodeid:
            item.add_marker(pytest.mark.slow)
        if item.path.name not in SPREAD:
            item.add_marker(pytest.mark.xdist_group(item.path.name))
