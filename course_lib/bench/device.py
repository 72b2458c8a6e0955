"""Needs a CUDA GPU, this course checked out, and its pinned torch, diffusers and transformers.

    python -m course_lib.bench.device [--out results.json] [--steps 2]

The one command to run on a GPU machine (nothing is downloaded). It runs three parts, each on
its own, so that one failing is a row of the table and the others still run:

  a. the CUDA tests of tests/test_sd_loop.py, in a subprocess (passed / failed counts);
  b. the course model (data/sd_course) in fp16 on CUDA: notebook 08's hand loop against
     StableDiffusionPipeline, largest difference and seconds of each;
  c. SD 1.5 at 512x512 and SDXL at 1024x1024, real size, random weights, fp16, via
     course_lib.bench.realsize.compare (one untimed warm-up step, then --steps timed).

It prints progress as it goes and ONE summary table at the end; --out also writes the rows as
JSON.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time

import torch

from course_lib.runtime import REPO_ROOT

# pytest's -k matches test names and the test names say "gpu": `-k cuda` alone selects none
PYTEST = ["-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/test_sd_loop.py",
          "-k", "gpu or cuda"]
COLUMNS = ["part", "status", "max_diff", "seconds", "peak_GiB", "decode_s", "detail"]


def log(message: str) -> None:
    print(f"[device {time.strftime('%H:%M:%S')}] {message}", flush=True)


def run_part(name: str, part) -> dict:
    """part() -> a dict of figures; any exception becomes a FAILED row with its first line."""
    log(f"{name} ...")
    start = time.perf_counter()
    try:
        row = {"part": name, "status": "ok", **part()}
    except Exception as exc:  # a failing part is reported, never raised
        first = (str(exc).strip().splitlines() or [""])[0]
        row = {"part": name, "status": "FAILED", "detail": f"{type(exc).__name__}: {first}"}
    row["wall_s"] = time.perf_counter() - start
    log(f"{name}: {row['status']} ({row['wall_s']:.1f} s) {row.get('detail', '')}")
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    return row


def cuda_tests() -> dict:
    """a. the CUDA tests, in a fresh process (so a crash there cannot take this one down)."""
    done = subprocess.run([sys.executable, *PYTEST], cwd=REPO_ROOT, capture_output=True,
                          text=True, timeout=300)
    return pytest_summary(done.stdout + done.stderr, done.returncode)


def pytest_summary(output: str, returncode: int) -> dict:
    """pytest's last line read as counts; ok only if something ran and nothing failed or was
    skipped (a skip here means the tests saw no GPU)."""
    last = [line for line in output.splitlines() if line.strip()][-1:] or ["no output"]
    counts = {"passed": 0, "failed": 0, "skipped": 0}
    for n, kind in re.findall(r"(\d+) (passed|failed|errors?|skipped)", last[0]):
        kind = "failed" if kind.startswith("error") else kind
        counts[kind] += int(n)
    ok = returncode == 0 and counts["passed"] > 0 and not counts["skipped"]
    return {"status": "ok" if ok else "FAILED", **counts, "detail": last[0].strip("= ")}


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def course_model(steps: int = 10, w: float = 5.0, device="cuda", dtype=torch.float16) -> dict:
    """b. the course model (fp16 on CUDA here): the hand loop vs the pipeline, same seed."""
    from course_lib import sd_loop, sd_weights
    from course_lib.exercises.nb08.probes import PROMPTS

    device = torch.device(device)
    pipe = sd_weights.load_pipeline(sd_weights.COURSE_MODEL, device, dtype)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    latents, seconds = {}, {}
    for who in ("warm-up", "hand", "pipeline"):
        start = time.perf_counter()
        if who == "pipeline":
            out = pipe(PROMPTS, num_inference_steps=steps, guidance_scale=w, output_type="latent",
                       generator=torch.Generator().manual_seed(0)).images
        else:
            out = sd_loop.generate_latents(pipe, PROMPTS, steps=steps, w=w,
                                           generator=torch.Generator().manual_seed(0))
        _sync(device)
        seconds[who] = time.perf_counter() - start
        latents[who] = out
    diff = (latents["hand"].float() - latents["pipeline"].float()).abs().max().item()
    return {"max_diff": diff, "seconds": seconds["hand"] / steps,
            "peak_GiB": (torch.cuda.max_memory_allocated(device) / 2**30
                         if device.type == "cuda" else None),
            "detail": f"{steps} DDIM steps, batch {len(PROMPTS)}: hand {seconds['hand']:.3f} s, "
                      f"pipeline {seconds['pipeline']:.3f} s, {latents['hand'].dtype}"}


def real_size(name: str, steps: int, scale="full", device="cuda", dtype=torch.float16) -> dict:
    """c. one realsize.compare row (full size, fp16, on CUDA here)."""
    from course_lib.bench import realsize

    row = realsize.compare(name, scale, dtype, device, steps=steps)
    detail = (f"U-Net {row['unet_M']:.1f} M, VAE {row['vae_M']:.1f} M, text "
              f"{row['text_M']} M; {row['attention']}; finite {row['finite']}")
    return {**row, "seconds": row["s_per_step"], "detail": detail}


def table(rows: list[dict]) -> str:
    """The summary: one line per part, the COLUMNS above, blanks where a part has no figure."""
    from course_lib.bench.realsize import format_table

    return format_table([{c: row.get(c) for c in COLUMNS} for row in rows])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=None, help="also write the rows as JSON here")
    parser.add_argument("--steps", type=int, default=2, help="timed steps for part c")
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    log(f"torch {torch.__version__}, CUDA available: {torch.cuda.is_available()}"
        + (f", {torch.cuda.get_device_name()}" if torch.cuda.is_available() else ""))
    rows = [run_part("a. CUDA tests (test_sd_loop)", cuda_tests),
            run_part("b. course model fp16", course_model),
            run_part("c. sd15 512x512 fp16", lambda: real_size("sd15", args.steps)),
            run_part("c. sdxl 1024x1024 fp16", lambda: real_size("sdxl", args.steps))]
    print(table(rows), flush=True)
    print("seconds: per denoising step (CFG batch of 2) of the hand loop; max_diff: "
          "|hand - pipeline| on the final latents", flush=True)
    if args.out:
        with open(args.out, "w", encoding="utf-8") as f:
            json.dump(rows, f, indent=2, default=str)
        log(f"rows written to {args.out}")
    return 0 if all(row["status"] == "ok" for row in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
