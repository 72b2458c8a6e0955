"""The challenge cells score an attempt, print how far it is from the target and never raise."""
import warnings

import torch

from course_lib import challenges, ddpm, diffusion, guidance, spiral
from course_lib.challenges import Target


def test_a_target_says_how_far_and_in_which_direction():
    lower = Target("distance", 0.03, 0.146, "the course's recipe")
    assert lower.reached(0.02) and not lower.reached(0.05) and not lower.reached(float("nan"))
    assert "0.02 to go" in lower.line(0.05) and "≤ 0.03" in lower.line(0.05)
    assert "target reached" in lower.line(0.01) and "the course's recipe: 0.146" in lower.line(0.01)
    higher = Target("adherence", 0.95, 0.935, "w = 2", higher_is_better=True)
    assert higher.reached(0.96) and not higher.reached(0.9) and "≥ 0.95" in higher.line(0.9)


def test_report_prints_and_returns_never_raises(capsys):
    t = Target("distance", 0.03, 0.146, "baseline")
    assert challenges.report(t, 0.01) is True
    assert challenges.report(t, 0.5, fast_note="fast mode") is False
    assert challenges.report(t, 0.01, problems=["over the budget"]) is False
    out = capsys.readouterr().out
    assert "Challenge met!" in out and "Not yet." in out and "(fast mode)" in out
    assert "does not count yet: over the budget" in out


def _recipe(batch):
    def recipe(steps):
        torch.manual_seed(0)
        model = spiral.SpiralDenoiser(hidden=16, depth=1)
        diffusion.train_denoiser(model, spiral.make_spiral(64), steps, batch_size=batch,
                                 progress=False)
        return model
    return recipe


def test_spiral_training_counts_steps_and_batch(capsys):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        scores = challenges.spiral_training(_recipe(32), budget=5, n_samples=200)
    assert scores["steps"] == 5 and scores["batch"] == 32 and not scores["met"]
    over = challenges.spiral_training(lambda b: _recipe(512)(b + 1), budget=3, n_samples=100)
    assert over["steps"] == 4 and over["batch"] == 512 and not over["met"]
    out = capsys.readouterr().out
    assert "over the budget of 3" in out and "over 256" in out and "fast mode" in out


def _toy_eps(alpha_bar):
    points = spiral.make_spiral(64)

    def eps_theta(x, t):  # the exact eps of the 64 points (notebook 04's ideal denoiser)
        sigma = ddpm.alpha_bar_to_sigma(alpha_bar[t])
        xs = x / alpha_bar[t].sqrt()
        w = torch.softmax(-torch.cdist(xs, points) ** 2 / (2 * sigma**2), dim=1)
        return (xs - w @ points) / sigma
    return eps_theta


def test_ddim_few_steps_scores_valid_lists_and_refuses_others(capsys):
    alpha_bar = ddpm.alpha_bars(ddpm.linear_betas(1000))
    eps = _toy_eps(alpha_bar)
    good = challenges.ddim_few_steps([999, 600, 300, 100, 10], eps, alpha_bar, n_samples=300)
    assert set(good) >= {"energy_distance", "dist_to_data", "met"}
    for bad, words in [([999, 800, 600, 400, 200, 0], "more than 5"),
                       ([100, 500], "descending"), ([1000, 5], "in [0, 1000)"),
                       ([], "no timesteps")]:
        assert challenges.ddim_few_steps(bad, eps, alpha_bar) == {"met": False}
        assert words in capsys.readouterr().out


def test_guidance_schedule_scores_any_function_of_sigma(capsys):
    data, arms, _ = guidance.labelled_spiral()
    torch.manual_seed(0)
    model = guidance.ConditionalDenoiser(hidden=16, depth=1, emb_dim=4).eval()
    seen = []
    scores = challenges.guidance_schedule(model, lambda s: seen.append(s) or 2.0, data, arms,
                                          n_per_class=20)
    assert len(seen) == 3 * 50 and seen == seen[:50] * 3
    assert seen[:50] == sorted(seen[:50], reverse=True)
    assert 0 <= scores["adherence"] <= 1 and scores["met"] is False
    assert "fast mode: 20 samples per class" in capsys.readouterr().out
