"""CPU seconds per image for the course's Stable Diffusion model (notebook 08), printed.

    python -m course_lib.bench.sd [--threads 1 2]

Run it on a quiet machine: another torch job on the same cores makes the figures meaningless.
"""
from __future__ import annotations

import argparse
import time

import torch

from course_lib import sd_model

PROMPTS = ["a large red circle in the center", "a small blue square at the top left",
           "a large yellow triangle at the bottom right", "a large blue triangle in the center"]


def seconds_per_image(pipe, batch: int, steps: int = 20, w: float = 7.5, repeats: int = 3):
    start = time.perf_counter()
    for _ in range(repeats):
        pipe(PROMPTS[:batch], num_inference_steps=steps, guidance_scale=w, output_type="pt",
             generator=torch.Generator().manual_seed(0))
    return (time.perf_counter() - start) / repeats / batch


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    args = parser.parse_args(argv)
    pipe = sd_model.load_course_pipeline("cpu")
    pipe.set_progress_bar_config(disable=True)
    pipe(PROMPTS[:1], num_inference_steps=2)  # warm-up: first calls allocate
    for threads in args.threads:
        torch.set_num_threads(threads)
        for batch in (1, 4):
            print(f"{threads} thread(s), batch {batch}: {seconds_per_image(pipe, batch):.3f} s "
                  f"per 32x32 image (20 DDIM steps, guidance 7.5)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
