"""Guidance library: labels, dropout, the shipped conditional model and what w does to it."""
import torch

from course_lib import artefacts, diffusion, guidance, samplers
from course_lib.train import COND_CONFIG


def test_labelled_spiral_noise_rate():
    data, arms, labels = guidance.labelled_spiral()
    assert data.shape == (255, 2) and arms.bincount().tolist() == [85, 85, 85]
    wrong = (labels != arms).float().mean().item()
    assert 0.1 < wrong < 0.3  # 25% random labels, a third of them right by chance


def test_conditional_model_learns_both_predictions():
    data, _, labels = guidance.labelled_spiral()
    torch.manual_seed(0)
    model = guidance.ConditionalDenoiser()
    losses = guidance.train_conditional(model, data, labels, steps=300, progress=False)
    assert sum(losses[-50:]) / 50 < 0.8 * sum(losses[:10]) / 10
    x, sigma = torch.randn(4, 2), torch.full((4,), 0.5)
    assert torch.equal(model(x, sigma), model(x, sigma, torch.full((4,), guidance.NULL)))


def test_shipped_model_guidance_raises_adherence_and_lowers_coverage():
    model, config, _ = artefacts.load("spiral_cond")
    assert config == COND_CONFIG
    data, arms, _ = guidance.labelled_spiral()
    sigmas = diffusion.COURSE.levels(30)
    cond = torch.full((400,), 1)
    scores = {}
    for w in (1.0, 3.0, 8.0):
        with torch.no_grad():
            x = samplers.sample(guidance.guided(model, cond, w), sigmas, 400, seed=0)
        scores[w] = guidance.adherence(x, 1, data, arms)
    assert scores[1.0] < 0.9 < scores[3.0]
    assert scores[8.0] > 0.9


def test_guided_with_w_one_is_the_conditional_model():
    model, _, _ = artefacts.load("spiral_cond")
    x, cond = torch.randn(6, 2), torch.tensor([0, 1, 2, 0, 1, 2])
    with torch.no_grad():
        assert torch.allclose(guidance.guided(model, cond, 1.0)(x, torch.tensor(0.3)),
                              model(x, torch.full((6,), 0.3), cond), atol=1e-6)
