"""Shared test set-up: fast mode for every notebook kernel the tests start, the `slow` mark on
every notebook run (nbval items), on the checks of the whole Stable Diffusion loop (each
runs the pipeline under three schedulers) and on the grading-draw tests of the other heavy
checks (HEAVY_CHECKS), so `pytest -m "not slow"` is the quick lane.

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


# Checks that run a U-Net, a VAE, a text encoder or a training loop on every case (0.3 to 1 s
# a check): their grading-draw tests (test_draws.py, several draws each) are slow; on the
# notebook's probes they stay in the quick lane, except generate_latents (a whole pipeline
# under three schedulers, 2 to 8 s a check), which is slow everywhere.
HEAVY_CHECKS = ("unet_forward", "controlled_unet", "decode", "guided_step", "t2i_train_step",
                "sdxl_encode_prompt", "encode_prompt", "train_loop")


def pytest_collection_modifyitems(config, items):
    for item in items:
        heavy_draw = item.path.name == "test_draws.py" and any(
            f"[{ex}]" in item.nodeid or f"[{ex}-" in item.nodeid for ex in HEAVY_CHECKS)
        if item.path.suffix == ".ipynb" or "[generate_latents" in item.nodeid or heavy_draw:
            item.add_marker(pytest.mark.slow)
