"""Challenges with measured targets: optional, ungraded, self-checking cells at the end of
notebooks 01, 03 and 05.

Each challenge scores a learner's attempt on fixed seeds, prints the score next to the target
and the course's own baseline (both measured, see each Target), and returns what it measured.
A missed target is printed, never raised: a challenge cell cannot fail a notebook run. The
targets are for the full-size run; in fast mode (COURSE_FAST=1) the budgets shrink and the
line says so.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch.nn.modules.module import register_module_forward_pre_hook
from torch.optim.optimizer import register_optimizer_step_pre_hook

from course_lib import diffusion, metrics2d, spiral
from course_lib.runtime import pick


@dataclass(frozen=True)
class Target:
    """What a challenge asks: `metric` at or below `target` (at or above it when
    higher_is_better), against the course's `baseline` measured with `baseline_how`."""
    metric: str
    target: float
    baseline: float
    baseline_how: str
    higher_is_better: bool = False

    def reached(self, score: float) -> bool:
        if score != score:  # NaN
            return False
        return score >= self.target if self.higher_is_better else score <= self.target

    def line(self, score: float) -> str:
        """One line: the score, the target and how far from it, the baseline."""
        sign = "≥" if self.higher_is_better else "≤"
        gap = abs(score - self.target)
        where = "target reached" if self.reached(score) else f"{gap:.4g} to go"
        return (f"{self.metric}: {score:.4g} (target {sign} {self.target:g}: {where}; "
                f"{self.baseline_how}: {self.baseline:g})")


def report(target: Target, score: float, problems: list[str] | None = None,
           fast_note: str = "") -> bool:
    """Print the challenge's verdict; True when the target is reached by a valid attempt."""
    problems = problems or []
    ok = target.reached(score) and not problems
    print(("Challenge met! " if ok else "Not yet. ") + target.line(score))
    for problem in problems:
        print(f"  does not count yet: {problem}")
    if fast_note:
        print(f"  ({fast_note})")
    return ok


# Notebook 01. Measured on one thread (python -m course_lib.challenges is not needed: the
# numbers come from diffusion.train_denoiser with notebook 01's defaults, seeds 0 and 1):
# 2,000 steps leave the course's recipe on its plateau, mean distance 0.146 and 0.149; a
# learning rate of 1e-2 instead reaches 0.016 and 0.014, coverage 1.0.
SPIRAL_TRAINING = Target("mean distance to the spiral", 0.03, 0.146,
                         "the course's recipe (train_denoiser's defaults) in 2,000 steps")
SPIRAL_COVERAGE = 0.9  # below this, samples crowded onto part of the curve do not count


def spiral_training(recipe: Callable[[int], torch.nn.Module], budget: int = 2000,
                    max_batch: int = 256, n_samples: int | None = None) -> dict:
    """Run recipe(budget) -> a trained denoiser(x, sigma), counting its optimiser steps and the
    largest batch its modules see while training; sample the model (50 deterministic steps on
    the course's levels, seed 0) and measure the samples against the spiral."""
    n_samples = n_samples or pick(2000, 500)
    steps, batch = [0], [0]

    def on_step(opt, args, kwargs):
        steps[0] += 1

    def on_forward(module, args):
        if torch.is_grad_enabled() and args and isinstance(args[0], torch.Tensor) \
                and args[0].dim() > 0:
            batch[0] = max(batch[0], args[0].shape[0])

    hooks = [register_optimizer_step_pre_hook(on_step),
             register_module_forward_pre_hook(on_forward)]
    start = time.perf_counter()
    try:
        model = recipe(budget)
    finally:
        for hook in hooks:
            hook.remove()
    seconds = time.perf_counter() - start
    curve = spiral.make_spiral(4000)
    with torch.no_grad():
        from course_lib import samplers

        x = samplers.sample(model, diffusion.COURSE.levels(50), n_samples, seed=0)
    scores = metrics2d.report(x, curve)
    problems = [p for p, bad in [
        (f"{steps[0]} optimiser steps, over the budget of {budget}", steps[0] > budget),
        (f"batches of up to {batch[0]} points, over {max_batch}", batch[0] > max_batch),
        (f"coverage {scores['coverage']:.2f} < {SPIRAL_COVERAGE}: the samples miss part of "
         "the spiral", scores["coverage"] < SPIRAL_COVERAGE)] if bad]
    print(f"{steps[0]} optimiser steps, largest batch {batch[0]}, {seconds:.1f} s on "
          f"{torch.get_num_threads()} thread(s); {n_samples} samples: {scores}")
    fast = "fast mode: a smaller budget, so the target is out of reach here" \
        if budget < 2000 else ""
    scores.update(steps=steps[0], batch=batch[0], seconds=seconds,
                  met=report(SPIRAL_TRAINING, scores["dist_to_data"], problems, fast))
    return scores


# Notebook 03: deterministic DDIM (eta = 0) with notebook 02's model, 2,000 samples from the
# noise of seed 0 (seed 1 in brackets). Diffusers' leading spacing, 5 steps: energy distance
# 0.083 (0.081); trailing spacing 0.086; five timesteps whose sigma are evenly spaced in
# log sigma between 10 and 0.02: 0.029 (0.024).
DDIM_FEW_STEPS = Target("energy distance to the spiral", 0.04, 0.083,
                        "diffusers' leading spacing, 5 steps")


def ddim_few_steps(timesteps, eps_theta, alpha_bar: torch.Tensor, max_steps: int = 5,
                   n_samples: int = 2000) -> dict:
    """Deterministic DDIM over the learner's descending `timesteps` (at most max_steps of
    them, each in [0, T)), from the noise of seed 0; the samples measured against the
    spiral."""
    from course_lib import ddim

    ts = torch.as_tensor(list(timesteps), dtype=torch.long)
    T = len(alpha_bar)
    problems = [p for p, bad in [
        (f"{len(ts)} timesteps, more than {max_steps}", len(ts) > max_steps),
        ("the timesteps must be distinct and descending",
         len(ts) > 1 and not bool((ts[1:] < ts[:-1]).all())),
        (f"timesteps must lie in [0, {T})", len(ts) and not bool(((ts >= 0) & (ts < T)).all()))]
        if bad]
    if problems or not len(ts):
        for p in problems or ["no timesteps given"]:
            print(f"Not scored: {p}")
        return {"met": False}
    x = torch.randn(n_samples, 2, generator=torch.Generator().manual_seed(0))
    out = list(ddim.ddim_samples(eps_theta, alpha_bar, ts, x))[-1]
    scores = metrics2d.report(out, spiral.make_spiral(4000))
    print(f"timesteps {ts.tolist()}: {scores}")
    scores["met"] = report(DDIM_FEW_STEPS, scores["energy_distance"])
    return scores


# Notebook 05: 50 guided deterministic steps on the course's levels, 500 samples per class
# from the noise of seeds 0, 1, 2, notebook 05's model. Adherence (energy distance to the arm):
# w = 1 0.769 (0.029); w = 2 0.935 (0.010); w = 2.25 0.953 (0.014); w = 2.5 0.963 (0.019,
# over the limit).
GUIDANCE = Target("adherence", 0.95, 0.935, "constant w = 2", higher_is_better=True)
GUIDANCE_ENERGY = 0.015  # the energy distance to the requested arm must stay at or below this


def guidance_schedule(model, w_of_sigma: Callable[[float], float], data: torch.Tensor,
                      arms: torch.Tensor, n_per_class: int | None = None) -> dict:
    """Guided sampling (50 deterministic steps on the course's levels) with the guidance weight
    w_of_sigma(sigma) at each step's sigma, for every class from fixed noise; the mean
    adherence and energy distance to the requested arm."""
    from course_lib import guidance

    n = n_per_class or pick(500, 150)
    sigmas = diffusion.COURSE.levels(50)
    adh, energy = [], []
    for c in range(guidance.N_CLASSES):
        cond = torch.full((n,), c)
        x = sigmas[0] * torch.randn(n, 2, generator=torch.Generator().manual_seed(c))
        with torch.no_grad():
            for s, s_next in zip(sigmas[:-1], sigmas[1:]):
                w = float(w_of_sigma(float(s)))
                x = x - (s - s_next) * guidance.cfg_denoise(model, x, s, cond, w)
        adh.append(guidance.adherence(x, c, data, arms))
        energy.append(metrics2d.energy_distance(x, data[arms == c]))
    scores = {"adherence": round(sum(adh) / len(adh), 4),
              "energy_distance": round(sum(energy) / len(energy), 4)}
    print(f"{n} samples per class: {scores}")
    problems = [f"energy distance to the arm {scores['energy_distance']:.4f} > "
                f"{GUIDANCE_ENERGY}: too little diversity or quality left"] \
        if scores["energy_distance"] > GUIDANCE_ENERGY else []
    fast = f"fast mode: {n} samples per class; the target is measured with 500" \
        if n != 500 else ""
    scores["met"] = report(GUIDANCE, scores["adherence"], problems, fast)
    return scores
