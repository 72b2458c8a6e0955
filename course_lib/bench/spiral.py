"""Benchmark: the course's spiral recipe against smalldiffusion's README recipe, side by side.

    python -m course_lib.bench.spiral [--train-seeds 3] [--seeds 3] [--n 2000] [--fast]
    pip install --no-deps --target /tmp/sdiff smalldiffusion  # first (or set $SMALLDIFFUSION)

Both recipes train on the same 100 points, smalldiffusion's Swissroll(pi/2, 5 pi, 100), on
one thread, alternating in this process (on a shared machine only the ratio of their times
means anything). The course's recipe: SpiralConfig's model through diffusion.train_denoiser.
smalldiffusion's, from its README: TimeInputMLP(hidden_dims=(16, 128, 128, 128, 128, 16)),
AdamW lr 1e-3, the 100 points as one batch per step, sigma from the 200 levels of
ScheduleLogLinear(200, 0.005, 10), MSE on eps, 15,000 steps; its training_loop is repeated
here draw for draw without the Accelerator and DataLoader around it, so only the recipe is
timed. The course's sampler with mu = 0 is smalldiffusion's samples() update, so it samples
both models on the same noise: DDIM (gam 1), gradient estimation (gam 2). `--check` compares
both with smalldiffusion's own functions. smalldiffusion is not a course dependency.
"""
from __future__ import annotations

import argparse
import math
import os
import statistics
import sys
import time
import types
from pathlib import Path

import torch
from torch import nn

from course_lib import diffusion, metrics2d, samplers, spiral

STEPS = (5, 10, 20, 50)
SAMPLERS = {"DDIM": 1.0, "GE": 2.0}
T_MIN, T_SPAN, N_POINTS = math.pi / 2, 5 * math.pi, 100  # Swissroll(pi/2, 5 pi, 100)


def import_smalldiffusion() -> types.ModuleType:
    """smalldiffusion from $SMALLDIFFUSION or /tmp/sdiff when there, else from sys.path.

    Its package imports torchvision (data.py) and einops (model.py) at the top, for image
    transforms and attention that the toy classes used here never touch; where they are not
    installed (the course has neither) inert stand-ins let the package import."""
    folder = Path(os.environ.get("SMALLDIFFUSION", "/tmp/sdiff"))
    if folder.is_dir() and str(folder) not in sys.path:
        sys.path.insert(0, str(folder))
    for name, attrs in STAND_INS.items():
        try:
            __import__(name)
        except ImportError:
            sys.modules[name] = types.SimpleNamespace(**attrs)
    try:
        import smalldiffusion
    except ImportError as e:
        raise SystemExit(f"smalldiffusion is needed for this benchmark ({e}); install it with "
                         "pip install --no-deps --target /tmp/sdiff smalldiffusion") from e
    return smalldiffusion


def _inert(*args, **kwargs) -> None:
    return None


# what smalldiffusion's modules take from torchvision and einops as they are imported
STAND_INS = {"torchvision": {"transforms": types.SimpleNamespace(
    Compose=_inert, RandomHorizontalFlip=_inert, ToTensor=_inert, Lambda=_inert)},
    "einops": {"rearrange": _inert, "repeat": _inert}}


def swissroll(sd) -> torch.Tensor:
    """The 100 training points, contiguous as a DataLoader batch gives them (Swissroll.vals
    is a transposed view, and randn_like(x0) follows x0's memory order). (100, 2)"""
    return sd.Swissroll(T_MIN, T_SPAN, N_POINTS).vals.contiguous()


def curve(n: int = 4001) -> torch.Tensor:
    """n points of the Swissroll's parametric curve t (cos t, sin t) / (5 pi), t in
    [pi/2, 11 pi/2], evenly spaced in t: (n, 2), float64."""
    t = T_MIN + torch.linspace(0, 1, n, dtype=torch.float64) * T_SPAN
    return torch.stack([t * torch.cos(t), t * torch.sin(t)], dim=1) / T_SPAN


def dist_to_curve(x: torch.Tensor, vertices: torch.Tensor) -> float:
    """Mean distance from each point of x (N, 2) to the polyline through vertices (exact
    point-to-segment distances, in float64)."""
    a, d = vertices[:-1], vertices[1:] - vertices[:-1]                   # (S, 2) each
    out = []
    for chunk in x.double().split(256):
        rel = chunk[:, None, :] - a[None]                                 # (C, S, 2)
        u = ((rel * d).sum(-1) / (d * d).sum(-1)).clamp(0, 1)             # (C, S)
        out.append((rel - u[..., None] * d).norm(dim=-1).min(dim=1).values)
    return torch.cat(out).mean().item()


def train_course(config: spiral.SpiralConfig, data: torch.Tensor) -> nn.Module:
    """The course's recipe, as course_lib.train.train_spiral runs it, on other data."""
    torch.manual_seed(config.seed)
    model = spiral.build(config)
    schedule = diffusion.Schedule(config.sigma_min, config.sigma_max)
    diffusion.train_denoiser(model, data, config.steps, config.batch_size, config.lr,
                             schedule, seed=config.seed, progress=False)
    return model


def train_smalldiffusion(sd, data: torch.Tensor, seed: int, steps: int = 15_000):
    """smalldiffusion's training_loop for its README's Swissroll, draw for draw: a
    DataLoader(batch_size=2048) gives the 100 points as one batch in order; every random draw
    uses the global generator; sigma from schedule.sample_batch; model.get_loss is MSE on eps."""
    torch.manual_seed(seed)
    model = sd.TimeInputMLP(hidden_dims=(16, 128, 128, 128, 128, 16))
    schedule = sd.ScheduleLogLinear(N=200, sigma_min=0.005, sigma_max=10)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    model.train()
    for _ in range(steps):
        torch.empty((), dtype=torch.int64).random_()  # the seed each DataLoader pass draws
        optimizer.zero_grad()
        x0, sigma, eps, cond = sd.generate_train_sample(data, schedule, False)
        loss = model.get_loss(x0, sigma, eps, cond=cond)
        loss.backward()
        optimizer.step()
    model.eval()
    return model, schedule


def sigma_lists(which: str, steps: int, config: spiral.SpiralConfig, sd_schedule):
    """The decreasing sigmas a sampler walks in `steps` steps: smalldiffusion's
    sample_sigmas (trailing spacing over its 200 levels, ending at sigma_min = 0.005) or the
    course's log-linear levels from sigma_max to the config's sigma_min, then 0."""
    if which == "smalldiffusion":
        return sd_schedule.sample_sigmas(steps).float()
    return diffusion.Schedule(config.sigma_min, config.sigma_max).levels(steps)


def evaluate(model, sigmas, seeds: int, n: int, gam: float, vertices, reference) -> tuple:
    """(mean distance to the curve, energy distance to the curve), averaged over seeds."""
    xs = [samplers.sample(model, sigmas, n, gam=gam, seed=1000 + s) for s in range(seeds)]
    return (statistics.mean(dist_to_curve(x, vertices) for x in xs),
            statistics.mean(metrics2d.energy_distance(x.double(), reference) for x in xs))


SCHEDULES = {"own": ("course", "smalldiffusion"), "sd's": ("smalldiffusion",) * 2,
             "course's": ("course",) * 2}


def run(config: spiral.SpiralConfig, train_seeds: int, seeds: int, n: int,
        sd_steps: int = 15_000) -> dict:
    """Train both recipes train_seeds times each, alternating, and sample each model with
    seeds x n samples per cell: the times and each cell's metrics (means over models)."""
    torch.set_num_threads(1)
    sd = import_smalldiffusion()
    data, vertices, reference = swissroll(sd), curve(4001), curve(2000)
    times = {"course": [], "smalldiffusion": []}
    cells: dict = {}
    for k in range(train_seeds):
        start = time.perf_counter()
        course = train_course(config.replace(seed=config.seed + k), data)
        times["course"].append(time.perf_counter() - start)
        start = time.perf_counter()
        theirs, sd_schedule = train_smalldiffusion(sd, data, seed=k, steps=sd_steps)
        times["smalldiffusion"].append(time.perf_counter() - start)
        for label, (course_sched, sd_sched) in SCHEDULES.items():
            for name, gam in SAMPLERS.items():
                for steps in STEPS:
                    for who, model, which in (("course", course, course_sched),
                                              ("smalldiffusion", theirs, sd_sched)):
                        sigmas = sigma_lists(which, steps, config, sd_schedule)
                        cell = evaluate(model, sigmas, seeds, n, gam, vertices, reference)
                        cells.setdefault((label, name, steps, who), []).append(cell)
    table = {key: tuple(statistics.mean(c[i] for c in v) for i in range(2))
             for key, v in cells.items()}
    return {"times": times, "table": table}


def print_report(result: dict, config: spiral.SpiralConfig, train_seeds: int, seeds: int,
                 n: int) -> bool:
    """Print the side-by-side table; return whether the course is at least as precise in
    every cell with its own schedule, in no more training time."""
    times = result["times"]
    t_c, t_s = sum(times["course"]), sum(times["smalldiffusion"])
    pairs = [c / s for c, s in zip(times["course"], times["smalldiffusion"])]
    print(f"training on one thread, {train_seeds} seed(s) each, back to back: course "
          f"{t_c / train_seeds:.1f} s, smalldiffusion {t_s / train_seeds:.1f} s per model; "
          f"ratio course / smalldiffusion {t_c / t_s:.2f} (pairs {min(pairs):.2f}-"
          f"{max(pairs):.2f})")
    print(f"course: {config}")
    print(f"dist: mean distance to the curve t (cos t, sin t) / 5 pi (to a 4001-vertex "
          f"polyline); energy: energy distance x1000 to 2000 curve points evenly spaced in t."
          f"\nMeans over {train_seeds} models x {seeds} sampling seeds x {n} samples, same noise "
          "for both. Schedules: own = the course's log-linear levels sigma_max..sigma_min, 0\n"
          "for it, smalldiffusion's sample_sigmas (trailing, ends at 0.005) for smalldiffusion;"
          " sd's / course's = that one schedule for both.")
    print(f"\n{'schedule':9s}{'sampler':8s}{'steps':>5s} | {'dist course':>11s} {'sd':>8s} "
          f"{'ratio':>6s} | {'energy course':>13s} {'sd':>8s}")
    ok, table = True, result["table"]
    for label in SCHEDULES:
        for name in SAMPLERS:
            for steps in STEPS:
                (dc, ec), (ds, es) = (table[label, name, steps, w]
                                      for w in ("course", "smalldiffusion"))
                if label == "own":
                    ok &= dc <= ds
                print(f"{label:9s}{name:8s}{steps:5d} | {dc:11.4f} {ds:8.4f} {dc / ds:6.2f} | "
                      f"{1000 * ec:13.2f} {1000 * es:8.2f}")
    ok &= t_c <= t_s
    print(f"\ncourse at least as precise at every step count (own schedules) in no more "
          f"training time: {'yes' if ok else 'no'}")
    return ok


def check(steps: int = 30) -> None:
    """The reproduced loop and sampler against smalldiffusion's own (needs accelerate)."""
    sd = import_smalldiffusion()
    torch.set_num_threads(1)
    mine, schedule = train_smalldiffusion(sd, swissroll(sd), seed=0, steps=steps)
    torch.manual_seed(0)
    theirs = sd.TimeInputMLP(hidden_dims=(16, 128, 128, 128, 128, 16))
    loader = torch.utils.data.DataLoader(sd.Swissroll(T_MIN, T_SPAN, N_POINTS), batch_size=2048)
    list(sd.training_loop(loader, theirs, schedule, epochs=steps, lr=1e-3))
    same = all(torch.allclose(a, b, atol=1e-6) for a, b in
               zip(mine.state_dict().values(), theirs.state_dict().values()))
    print(f"training loop, {steps} steps: weights {'match' if same else 'DIFFER'}")
    sigmas = schedule.sample_sigmas(10)
    x0 = sigmas[0] * torch.randn(64, 2, generator=torch.Generator().manual_seed(0))
    for gam in SAMPLERS.values():
        x = samplers.sample(mine, sigmas, 64, gam=gam, seed=0)   # starts from the same x0
        *_, y = sd.samples(mine, sigmas, gam=gam, xt=x0)
        print(f"sampler gam={gam}: max difference {(x - y).abs().max().item():.2e}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train-seeds", type=int, default=3, help="models trained per recipe")
    parser.add_argument("--seeds", type=int, default=3, help="sampling seeds per model")
    parser.add_argument("--n", type=int, default=2000, help="samples per seed")
    parser.add_argument("--fast", action="store_true", help="a smoke run: short training")
    parser.add_argument("--check", action="store_true", help="only compare with smalldiffusion")
    args = parser.parse_args(argv)
    if args.check:
        return check() or 0
    config, sd_steps = spiral.SpiralConfig(), 15_000
    if args.fast:  # every code path, models far from trained
        config, sd_steps, args.train_seeds, args.seeds, args.n = (
            config.replace(steps=300), 300, 1, 1, 500)
    result = run(config, args.train_seeds, args.seeds, args.n, sd_steps)
    print_report(result, config, args.train_seeds, args.seeds, args.n)
    return 0


if __name__ == "__main__":
    sys.exit(main())
