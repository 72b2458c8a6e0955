"""Benchmark: sample quality against steps for DDPM, DDIM and the gradient-estimation sampler.

    python -m course_lib.bench.samplers [--seeds 5] [--n 2000]

Trains notebook 01's spiral model from scratch on one thread (and reports how long that
took), then samples with the generic (gam, mu) sampler on the log-linear schedule, with the
learned and with the ideal denoiser, and prints medians over seeds. A benchmark, not a test:
run it on a quiet machine.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time

import torch

from course_lib import diffusion, metrics2d, projection, samplers, spiral
from course_lib.train import train_spiral

SAMPLERS = {"DDPM (gam=1, mu=1/2)": (1.0, 0.5), "DDIM (gam=1, mu=0)": (1.0, 0.0),
            "GE (gam=2, mu=0)": (2.0, 0.0)}
STEPS = (5, 10, 20, 50)


def run(seeds: int, n: int) -> dict:
    torch.set_num_threads(1)
    start = time.perf_counter()
    model, _ = train_spiral(progress=False)
    train_s = time.perf_counter() - start
    curve = spiral.make_spiral(4000)
    denoisers = {"learned": model, "ideal": projection.ideal_denoiser(spiral.make_spiral(256))}
    table = {}
    for den_name, den in denoisers.items():
        for name, (gam, mu) in SAMPLERS.items():
            for steps in STEPS:
                sigmas = diffusion.COURSE.levels(steps)
                runs = []
                for seed in range(seeds):
                    with torch.no_grad():
                        x = samplers.sample(den, sigmas, n, gam=gam, mu=mu, seed=seed)
                    runs.append(metrics2d.report(x, curve))
                table[den_name, name, steps] = {
                    k: statistics.median(r[k] for r in runs) for k in runs[0]}
    return {"train_seconds": train_s, "table": table}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--n", type=int, default=2000, help="samples per run")
    args = parser.parse_args(argv)
    result = run(args.seeds, args.n)
    print(f"training the spiral model from scratch (10,000 steps, 1 thread): "
          f"{result['train_seconds']:.1f} s")
    print(f"medians over {args.seeds} seeds of {args.n} samples; log-linear sigma 10 -> 0.01, 0")
    for metric in ("dist_to_data", "energy_distance"):
        print(f"\n{metric} (lower is better)")
        print(f"{'denoiser':8s} {'sampler':22s}" + "".join(f"{s:>9d}" for s in STEPS))
        for den in ("learned", "ideal"):
            for name in SAMPLERS:
                cells = "".join(f"{result['table'][den, name, s][metric]:9.4f}" for s in STEPS)
                print(f"{den:8s} {name:22s}{cells}")
    t = result["table"]
    ge10, ddim50 = t["learned", "GE (gam=2, mu=0)", 10], t["learned", "DDIM (gam=1, mu=0)", 50]
    verdict = all(ge10[k] <= ddim50[k] for k in ("dist_to_data", "energy_distance"))
    print(f"\nlearned model: GE at 10 steps {'reaches' if verdict else 'does not reach'} DDIM at "
          f"50 steps (dist {ge10['dist_to_data']:.4f} vs {ddim50['dist_to_data']:.4f}, energy "
          f"{ge10['energy_distance']:.4f} vs {ddim50['energy_distance']:.4f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
