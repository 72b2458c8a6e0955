"""Reproducible training commands for every checkpoint shipped in data/.

    python -m course_lib.train spiral        # data/spiral_mlp.pt, ~15 s on one CPU thread
    python -m course_lib.train spiral_cond   # data/spiral_cond.pt, ~17 s on one CPU thread

Each command fixes its seed and uses one thread, so the same command gives the same file.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

from course_lib import guidance, spiral
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


COND_CONFIG = {**SPIRAL_CONFIG, "n_points": 255, "label_noise": 0.25, "p_uncond": 0.2}


def train_spiral_cond(config: dict = COND_CONFIG, progress: bool = True):
    """Train notebook 05's conditional denoiser (noisy arm labels, 20% dropped to NULL)."""
    c = config
    torch.manual_seed(c["seed"])
    model = guidance.ConditionalDenoiser(c["hidden"], c["depth"], c["emb_dim"],
                                         c["sigma_min"], c["sigma_max"])
    data, _, labels = guidance.labelled_spiral(c["n_points"], c["label_noise"], c["seed"])
    losses = guidance.train_conditional(model, data, labels, c["steps"], c["p_uncond"],
                                        c["batch_size"], c["lr"], c["seed"], progress)
    return model, losses


MODELS = {"spiral": ("spiral_mlp.pt", train_spiral, SPIRAL_CONFIG),
          "spiral_cond": ("spiral_cond.pt", train_spiral_cond, COND_CONFIG)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Train a course checkpoint into data/.")
    parser.add_argument("model", choices=list(MODELS))
    parser.add_argument("--out", type=Path, default=None, help="output file (default: data/)")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    filename, train, config = MODELS[args.model]
    out = args.out or DATA_DIR / filename
    start = time.perf_counter()
    model, losses = train()
    spiral.save_checkpoint(out, model, config, losses)
    print(f"wrote {out} after {time.perf_counter() - start:.1f} s; "
          f"final loss (mean of last 500 steps) {sum(losses[-500:]) / 500:.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
