"""Reproducible training commands for every checkpoint shipped in data/.

    python -m course_lib.train spiral      # data/spiral_mlp.pt, ~15 s on one CPU thread

Each command fixes its seed and uses one thread, so the same command gives the same file.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

from course_lib import spiral
from course_lib.runtime import DATA_DIR

SPIRAL_CONFIG = {"hidden": 128, "depth": 3, "emb_dim": 16, "n_points": 256, "steps": 10_000,
                 "batch_size": 256, "lr": 3e-3, "sigma_min": 0.01, "sigma_max": 10.0, "seed": 0}


def train_spiral(config: dict = SPIRAL_CONFIG, progress: bool = True):
    """Train the notebook 01 denoiser from scratch; returns (model, losses)."""
    c = config
    torch.manual_seed(c["seed"])
    model = spiral.SpiralDenoiser(c["hidden"], c["depth"], c["emb_dim"], c["sigma_min"],
                                  c["sigma_max"])
    losses = spiral.train_denoiser(model, spiral.make_spiral(c["n_points"]), c["steps"],
                                   c["batch_size"], c["lr"], c["sigma_min"], c["sigma_max"],
                                   seed=c["seed"], progress=progress)
    return model, losses


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Train a course checkpoint into data/.")
    parser.add_argument("model", choices=["spiral"])
    parser.add_argument("--out", type=Path, default=None, help="output file (default: data/)")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    out = args.out or DATA_DIR / "spiral_mlp.pt"
    start = time.perf_counter()
    model, losses = train_spiral()
    spiral.save_checkpoint(out, model, SPIRAL_CONFIG, losses)
    print(f"wrote {out} after {time.perf_counter() - start:.1f} s; "
          f"final loss (mean of last 500 steps) {sum(losses[-500:]) / 500:.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
