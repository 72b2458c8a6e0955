"""Shared test set-up: fast mode for every notebook kernel the tests start, and the `slow`
mark on every notebook run (nbval items) and on the checks of the whole Stable Diffusion loop
(each runs the pipeline under three schedulers), so `pytest -m "not slow"` is the quick lane."""
import os

import pytest

os.environ["COURSE_FAST"] = "1"
os.environ.setdefault("MPLBACKEND", "Agg")


def pytest_collection_modifyitems(config, items):
    for item in items:
        if item.path.suffix == ".ipynb" or "[generate_latents" in item.nodeid:
            item.add_marker(pytest.mark.slow)
