"""The spiral library: shapes, a short training run that must lower the loss, the shipped
checkpoint, the deterministic sampler and the 2D metrics."""
import pytest
import torch

from course_lib import artefacts, diffusion, metrics2d, samplers, spiral
from course_lib.runtime import data_path
from course_lib.train import SPIRAL_CONFIG, train_spiral


def test_spiral_data():
    data = spiral.make_spiral(256)
    assert data.shape == (256, 2)
    assert data.norm(dim=1).max() == pytest.approx(1.0)
    assert torch.equal(data, spiral.make_spiral(256))


def test_noise_and_x0_guess_are_inverse():
    g = torch.Generator().manual_seed(0)
    x0, eps = torch.randn(5, 3, 4, 4, generator=g), torch.randn(5, 3, 4, 4, generator=g)
    sigma = torch.rand(5, generator=g) * 5
    x = diffusion.add_noise(x0, sigma, eps)
    assert torch.allclose(diffusion.predict_x0(x, sigma, eps), x0, atol=1e-5)
    assert torch.allclose(x[1] - x0[1], sigma[1] * eps[1])


def test_denoiser_accepts_scalar_and_batched_sigma():
    model = spiral.SpiralDenoiser()
    x = torch.randn(7, 2)
    a = model(x, torch.tensor(0.5))
    b = model(x, torch.full((7,), 0.5))
    assert a.shape == (7, 2) and torch.allclose(a, b)


def test_short_training_lowers_the_loss():
    torch.manual_seed(0)
    model = spiral.SpiralDenoiser()
    losses = diffusion.train_denoiser(model, spiral.make_spiral(), steps=400, progress=False)
    first, last = sum(losses[:10]) / 10, sum(losses[-50:]) / 50
    assert last < 0.8 * first, (first, last)


def test_training_is_reproducible():
    cfg = SPIRAL_CONFIG.replace(steps=30)
    (m1, l1), (m2, l2) = train_spiral(cfg, progress=False), train_spiral(cfg, progress=False)
    assert l1 == l2
    assert all(torch.equal(a, b) for a, b in zip(m1.state_dict().values(),
                                                m2.state_dict().values()))


def test_shipped_checkpoint_samples_lie_on_the_spiral():
    model, config, losses = artefacts.load("spiral")
    assert config == SPIRAL_CONFIG and len(losses) == config.steps
    sigmas = diffusion.COURSE.levels(50)
    x = samplers.sample(model, sigmas, 1000, seed=0)
    curve = spiral.make_spiral(4000)
    assert metrics2d.dist_to_data(x, curve) < 0.03
    assert metrics2d.coverage(x, curve) > 0.95
    assert metrics2d.energy_distance(x, curve) < 0.005


def test_missing_data_file_is_a_plain_message():
    with pytest.raises(FileNotFoundError, match="ships with the course"):
        data_path("no_such_checkpoint.pt")


def _point_denoiser(p):
    """The exact denoiser when the data set is the single point p."""
    return lambda x, sigma: (x - p) / sigma


def test_deterministic_sampler_reaches_a_single_data_point_exactly():
    p = torch.tensor([0.3, -0.7])
    sigmas = diffusion.COURSE.levels(8)
    traj = samplers.sample(_point_denoiser(p), sigmas, 16, trajectory=True)
    assert traj.shape == (9, 16, 2)  # the start and one state per step
    assert torch.allclose(traj[-1], p.expand(16, 2), atol=1e-5)
    # on the way, x - p shrinks exactly by sigma_next / sigma (DDIM keeps the direction)
    ratio = (traj[3] - p).norm(dim=1) / (traj[2] - p).norm(dim=1)
    assert torch.allclose(ratio, (sigmas[3] / sigmas[2]).expand(16), rtol=1e-4)


def test_sampler_determinism_and_noise():
    p = torch.zeros(2)
    sigmas = diffusion.Schedule(0.1, 5.0).levels(6)
    a = samplers.sample(_point_denoiser(p), sigmas, 8, seed=3)
    b = samplers.sample(_point_denoiser(p), sigmas, 8, seed=3)
    assert torch.equal(a, b)
    # with mu = 1/2 the sampler injects fresh noise but still ends on the data point
    c = samplers.sample(_point_denoiser(p), sigmas, 8, mu=0.5, seed=3)
    assert torch.allclose(c, torch.zeros(8, 2), atol=1e-5)
    with pytest.raises(ValueError, match="mu must be"):
        next(samplers.samples(_point_denoiser(p), sigmas, torch.zeros(1, 2), mu=1.0))


def test_metrics_on_known_clouds():
    curve = spiral.make_spiral(2000)
    assert metrics2d.dist_to_data(curve, curve) == 0.0
    assert metrics2d.coverage(curve, curve) == 1.0
    shifted = curve + torch.tensor([0.5, 0.0])
    assert metrics2d.energy_distance(curve, shifted) > 0.1
    assert metrics2d.energy_distance(curve, shifted) == pytest.approx(
        metrics2d.energy_distance(shifted, curve), rel=1e-5)
    half = curve[:1000]  # the inner half of the spiral only: precise but not covering
    assert metrics2d.dist_to_data(half, curve) == 0.0
    assert metrics2d.coverage(half, curve) < 0.6
    assert metrics2d.precision(half, curve) == 1.0
    assert set(metrics2d.report(half, curve)) == {"dist_to_data", "precision", "coverage",
                                                  "energy_distance"}
