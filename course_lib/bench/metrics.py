"""Benchmark: the figures behind notebook 09's plots, with their spread over seeds.

    python -m course_lib.bench.metrics [--seeds 3] [--n 400] [--only bias,guidance,steps,best]
                                       [--steps-model sd_course|text2img]

On one thread. Each seed draws new prompts (or new real images) and new noise; every figure
is mean +- standard deviation over the seeds of FID, KID, CLIP score and the judge's
prompt-match rate, on n images per set against 2000 real reference images. The steps
comparison runs notebook 08's diffusers course model (data/sd_course) by default, or
notebook 07's model (evaluation.text2img_generator). A benchmark, not a test.
"""
from __future__ import annotations

import argparse
import sys
import time

import torch

from course_lib import clip, evaluation, metrics, shapes

N_REF = 2000
WS = (0.0, 1.0, 1.5, 2.0, 3.0, 5.0, 8.0)
STEPS = (2, 4, 8, 16)
BIAS_SIZES = (25, 50, 100, 200, 400, 800, 1600)
W, SAMPLE_STEPS, BEST_STEPS, CANDIDATES = 3.0, 20, 3, 8


def _row(label: str, cards: list[dict]) -> str:
    t = torch.tensor([[c[k] for k in ("FID", "KID", "CLIP", "match")] for c in cards])
    mean, std = t.mean(0), t.std(0) if len(t) > 1 else torch.zeros(4)
    return (f"{label:22s} FID {mean[0]:6.3f} ± {std[0]:.3f}   KID {mean[1]:7.4f} ± {std[1]:.4f}"
            f"   CLIP {mean[2]:5.1f} ± {std[2]:.1f}   match {mean[3]:5.1%} ± {std[3]:.1%}")


def bias(ex, ref, seeds: int) -> None:
    print(f"\nreal vs real, and noisy (std 0.1) vs real: {seeds} draws per N")
    for n in BIAS_SIZES:
        for name, noise in (("real", 0.0), ("noisy", 0.1)):
            rows = []
            for s in range(seeds):
                x = shapes.make_dataset(n, seed=1000 + s)[0]
                x = x + noise * torch.randn(x.shape, generator=torch.Generator().manual_seed(s))
                f = metrics.extract(ex.feature_net.features, x)
                rows.append((metrics.fid(f, ref).item(),
                             metrics.kid(f, ref, n_subsets=20, subset_size=n, seed=s)[0].item()))
            t = torch.tensor(rows)
            print(f"N = {n:5d} {name:6s} FID {t[:, 0].mean():7.3f} ± {t[:, 0].std():.3f}   "
                  f"KID {t[:, 1].mean():8.4f} ± {t[:, 1].std():.4f}")


def guidance(ex, ref, seeds: int, n: int) -> None:
    generate = evaluation.text2img_generator()
    print(f"\nguidance sweep, notebook 07's model, DDIM {SAMPLE_STEPS} steps, {n} images, "
          f"{seeds} seeds")
    real = [evaluation.scorecard(ex, *shapes.make_dataset(n, seed=200 + s)[:2], ref)
            for s in range(seeds)]
    print(_row("real images", real))
    for w in WS:
        cards = []
        for s in range(seeds):
            prompts = shapes.make_dataset(n, seed=200 + s)[1]
            cards.append(evaluation.scorecard(ex, generate(prompts, w, SAMPLE_STEPS, seed=s),
                                              prompts, ref))
        print(_row(f"w = {w:g}", cards), flush=True)


def steps(ex, ref, seeds: int, n: int, model: str = "sd_course") -> None:
    if model == "sd_course":
        from course_lib import sd_model
        pipe = sd_model.load_course_pipeline("cpu")
        pipe.set_progress_bar_config(disable=True)
        samplers = evaluation.SAMPLERS

        def run(prompts, sampler, k, s):
            return evaluation.sd_generate(pipe, prompts, sampler, k, W, seed=s)
        model = "the diffusers course model (data/sd_course)"
    else:
        generate = evaluation.text2img_generator()
        samplers = evaluation.SAMPLERS

        def run(prompts, sampler, k, s):
            return generate(prompts, W, k, sampler, seed=s)
        model = "notebook 07's model (log-linear sigmas 10 -> 0.01, then 0)"
    print(f"\nquality vs steps, {model}, w = {W:g}, {n} images, {seeds} seeds")
    for k in STEPS:
        for sampler in samplers:
            cards = []
            for s in range(seeds):
                prompts = shapes.make_dataset(n, seed=200 + s)[1]
                cards.append(evaluation.scorecard(ex, run(prompts, sampler, k, s), prompts, ref))
            print(_row(f"{k:2d} steps {sampler}", cards), flush=True)


def best_of_n(ex, ref, seeds: int, n: int) -> None:
    generate = evaluation.text2img_generator()
    n_prompts = n // 4
    print(f"\nbest of n by CLIP score, notebook 07's model, DDIM {BEST_STEPS} steps, w = {W:g}, "
          f"{n_prompts} prompts, {seeds} seeds")
    cards = {k: [] for k in (1, 2, 4, CANDIDATES)}
    for s in range(seeds):
        prompts = shapes.make_dataset(n_prompts, seed=200 + s)[1]
        many = [p for p in prompts for _ in range(CANDIDATES)]
        x = generate(many, W, BEST_STEPS, seed=s).view(n_prompts, CANDIDATES, 3, 32, 32)
        scores = clip.score(ex.clip, ex.vocab, x.flatten(0, 1), many).view(n_prompts, -1)
        for k in cards:
            best = x[torch.arange(n_prompts), scores[:, :k].argmax(1)]
            cards[k].append(evaluation.scorecard(ex, best, prompts, ref))
    for k, c in cards.items():
        print(_row(f"best of {k}", c))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--n", type=int, default=400, help="generated images per set")
    parser.add_argument("--only", default="bias,guidance,steps,best")
    parser.add_argument("--steps-model", choices=["sd_course", "text2img"], default="sd_course")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    start = time.perf_counter()
    ex = evaluation.load_examiners()
    ref = evaluation.reference_features(ex, N_REF)
    print(f"reference: {N_REF} real images; features {tuple(ref.shape)}")
    experiments = {"bias": lambda: bias(ex, ref, max(args.seeds, 5)),
                   "guidance": lambda: guidance(ex, ref, args.seeds, args.n),
                   "steps": lambda: steps(ex, ref, args.seeds, args.n, args.steps_model),
                   "best": lambda: best_of_n(ex, ref, args.seeds, args.n)}
    for name in args.only.split(","):
        experiments[name]()
    print(f"\n{time.perf_counter() - start:.0f} s on one thread")
    return 0


if __name__ == "__main__":
    sys.exit(main())
