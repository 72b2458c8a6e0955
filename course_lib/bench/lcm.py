"""Notebook 11's student-against-teacher comparison: the LCM student at 1, 2, 4, 8 steps
against the teacher's DDIM and DPM-Solver++ at the same steps (and its own DDIM at 20), by
the judge's prompt match, FID and seconds per image.

    python -m course_lib.bench.lcm [--prompts 256] [--seeds 3]

prints the table quoted in notebook 11 (about half an hour on one thread). The notebook calls
compare() and table() on fewer prompts.
"""
from __future__ import annotations

import time

import torch

from course_lib import shapes
from course_lib.lcm import W, lcm_generate, lcm_scheduler, load_student
from course_lib.runtime import progress_bar

SAMPLERS = ("LCM student", "DDIM", "DPM-Solver++")   # the last two: the teacher, guided by W
UNDISTILLED = "undistilled"  # the teacher's U-Net, unguided, in the LCM loop (the LoRA at 0)


def undistilled(pipe):
    """The student before distillation: the teacher's own components (shared, not copied)
    with LCMScheduler, so that its consistency function is the teacher's unguided data
    guess; what lcm_latents makes with it shows what the distillation added."""
    from types import SimpleNamespace

    return SimpleNamespace(**{**pipe.components,
                              "scheduler": lcm_scheduler(pipe.scheduler.config)})


def generate(which: str, pipe, student, prompts: list[str], steps: int, seed: int = 0):
    """Images (B, 3, H, W) in [-1, 1] from one of SAMPLERS at `steps` steps; the same seed
    gives all three the same starting noise (the teacher's on trailing timesteps, as
    evaluation.sd_generate makes them)."""
    from course_lib import evaluation

    if which == "LCM student":
        return lcm_generate(student, prompts, steps, seed)
    if which == UNDISTILLED:
        return lcm_generate(undistilled(pipe), prompts, steps, seed)
    return evaluation.sd_generate(pipe, prompts, which, steps, W, seed)


def compare(pipe, student, prompts: list[str], steps: list[int], seeds, judge,
            feature_net=None, reference=None, teacher_steps: int = 20,
            progress: bool = True, clip_model=None, vocab=None) -> dict:
    """Per (sampler, steps), one row per seed: the judge's match rate (all three right), FID
    of the feature_net's features against `reference` (when both are given) and seconds per
    image, and notebook 09's CLIP score (with clip_model and its vocab), for SAMPLERS and
    UNDISTILLED; the teacher's DDIM at teacher_steps joins as
    ("DDIM", teacher_steps). Also "images": the first seed's first 8 images of each run."""
    from course_lib import clip, metrics
    from course_lib.judge import match_rate

    attrs = [shapes.parse_caption(p) for p in prompts]
    runs = list(dict.fromkeys([(s, n) for n in steps for s in (*SAMPLERS, UNDISTILLED)]
                              + [("DDIM", teacher_steps)]))
    rows, images = {}, {}
    for seed in seeds:
        for which, n in progress_bar(runs, desc=f"seed {seed}", disable=not progress):
            start = time.perf_counter()
            x = generate(which, pipe, student, prompts, n, seed)
            row = {"seconds per image": (time.perf_counter() - start) / len(prompts),
                   "match": match_rate(judge, x, attrs)["all"]}
            if feature_net is not None and reference is not None:
                row["FID"] = metrics.fid(metrics.extract(feature_net.features, x),
                                         reference).item()
            if clip_model is not None:
                row["CLIP"] = clip.score(clip_model, vocab, x, prompts).mean().item()
            rows.setdefault((which, n), []).append(row)
            images.setdefault((which, n), x[:8])
    return {"rows": rows, "images": images}


def table(result: dict, key: str) -> dict:
    """(sampler, steps) -> (mean, spread = (max - min) / 2) of one column over the seeds."""
    out = {}
    for k, rows in result["rows"].items():
        vals = [r[key] for r in rows if r.get(key) is not None]
        if vals:
            out[k] = (sum(vals) / len(vals), (max(vals) - min(vals)) / 2)
    return out


def main(argv: list[str] | None = None) -> int:
    """`python -m course_lib.bench.lcm [--prompts 256] [--seeds 3]`: the student-against-teacher
    table of notebook 11 (match, FID, seconds per image), on one thread."""
    import argparse

    from course_lib import evaluation, sd_model

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--prompts", type=int, default=256)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    pipe = sd_model.load_course_pipeline("cpu")
    pipe.set_progress_bar_config(disable=True)
    student = load_student(device="cpu")
    ex = evaluation.load_examiners()
    reference = evaluation.reference_features(ex, 2000)
    prompts = shapes.make_dataset(args.prompts, seed=200)[1]
    result = compare(pipe, student, prompts, [1, 2, 4, 8], range(args.seeds), ex.judge,
                     ex.feature_net, reference, clip_model=ex.clip, vocab=ex.vocab)
    match, fid, score, sec = (table(result, k) for k in ("match", "FID", "CLIP",
                                                        "seconds per image"))
    print(f"{args.prompts} prompts, seeds 0..{args.seeds - 1}; mean ± half the range over seeds")
    print(f"{'sampler':>14s} {'steps':>5s} | {'match':>13s} | {'FID':>13s} | "
          f"{'CLIP score':>13s} | ms/image")
    for k in result["rows"]:
        print(f"{k[0]:>14s} {k[1]:5d} | {match[k][0]:6.1%} ± {match[k][1]:4.1%} | "
              f"{fid[k][0]:6.2f} ± {fid[k][1]:4.2f} | {score[k][0]:6.3f} ± {score[k][1]:5.3f} | "
              f"{1000 * sec[k][0]:6.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
