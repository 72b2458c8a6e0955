"""Notebook 12's flow matching: the bridge to the sigma view holds numerically (paths, exact
models, both wrappers, both samplers), training goes through the one loop, and the shipped
flow and reflow checkpoints do what the notebook says (reflow: straighter, better in few steps).
"""
import pytest
import torch

from course_lib import artefacts, diffusion, flow, guidance, metrics2d, projection, samplers, spiral


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _random_models(seed: int = 0):
    torch.manual_seed(seed)
    return flow.FlowMLP(hidden=32, depth=2), spiral.SpiralDenoiser(hidden=32, depth=2)


def test_the_straight_path_is_the_sigma_view_rescaled():
    x0, eps = torch.randn(7, 2, generator=_gen(1)), torch.randn(7, 2, generator=_gen(2))
    t = torch.rand(7, generator=_gen(3)) * 0.98 + 0.01
    sigma = flow.t_to_sigma(t)
    x_sigma = diffusion.add_noise(x0, sigma, eps)
    assert torch.allclose(flow.flow_path(x0, t, eps), x_sigma / (1 + sigma[:, None]), atol=1e-6)
    assert torch.allclose(flow.sigma_to_t(sigma), t, atol=1e-6)
    ends = flow.flow_path(x0, torch.tensor([0.0, 1.0]).repeat(4)[:7], eps)
    assert torch.equal(ends[0::2], x0[0::2]) and torch.equal(ends[1::2], eps[1::2])


def test_the_exact_models_of_a_finite_set_are_one_object_seen_two_ways():
    K = torch.randn(9, 2, generator=_gen(4), dtype=torch.float64)
    x = 2 * torch.randn(50, 2, generator=_gen(5), dtype=torch.float64)
    t = torch.rand(50, generator=_gen(6), dtype=torch.float64) * 0.98 + 0.01
    v_star, eps_star = flow.ideal_velocity(K), projection.ideal_denoiser(K)
    sigma = flow.t_to_sigma(t)
    assert torch.allclose(flow.as_velocity(eps_star)(x, t), v_star(x, t), atol=1e-9)
    assert torch.allclose(flow.as_denoiser(v_star)(x, sigma), eps_star(x, sigma), atol=1e-9)


def test_the_wrappers_invert_each_other_on_random_models():
    velocity, denoiser = _random_models()
    x = torch.randn(16, 2, generator=_gen(7), dtype=torch.float64)
    t = torch.rand(16, generator=_gen(8), dtype=torch.float64) * 0.98 + 0.01
    velocity, denoiser = velocity.double(), denoiser.double()
    with torch.no_grad():
        back = flow.as_velocity(flow.as_denoiser(velocity))(x, t)
        assert torch.allclose(back, velocity(x, t), atol=1e-9)
        sigma = flow.t_to_sigma(t)
        again = flow.as_denoiser(flow.as_velocity(denoiser))(x, sigma)
        assert torch.allclose(again, denoiser(x, sigma), atol=1e-9)
        # scalar levels, as the samplers pass them
        assert torch.allclose(flow.as_denoiser(velocity)(x, sigma[0]),
                              flow.as_denoiser(velocity)(x, sigma[:1].expand(16)))


@pytest.mark.parametrize("shipped", [False, True], ids=["random weights", "shipped models"])
def test_euler_in_t_is_ddim_in_sigma_both_ways(shipped):
    """A flow model drives the course's DDIM sampler and a diffusion model drives the Euler
    flow sampler: the states agree (x_t = x_sigma / (1 + sigma)) to float32 rounding."""
    if shipped:
        velocity, denoiser = artefacts.load("spiral_flow").model, artefacts.load("spiral").model
    else:
        velocity, denoiser = _random_models(1)
    sigmas = diffusion.COURSE.levels(25)
    ts = flow.sigma_to_t(sigmas)
    x_sigma = sigmas[0] * torch.randn(300, 2, generator=_gen(9))
    with torch.no_grad():
        for v, d in [(velocity, flow.as_denoiser(velocity)),
                     (flow.as_velocity(denoiser), denoiser)]:
            by_euler = torch.stack(list(flow.euler_flow_samples(v, ts, x_sigma / (1 + sigmas[0]))))
            by_ddim = torch.stack(list(samplers.samples(d, sigmas, x_sigma)))
            assert by_euler.shape == by_ddim.shape == (25, 300, 2)
            gap = (by_euler - by_ddim / (1 + sigmas[1:, None, None])).abs().max().item()
            assert gap < 1e-4, gap
    if shipped:  # and the samples are spiral samples, not merely equal
        curve = spiral.make_spiral(4000)
        assert metrics2d.dist_to_data(by_euler[-1], curve) < 0.05


def test_cond_goes_through_both_wrappers():
    torch.manual_seed(2)
    model = guidance.ConditionalDenoiser(hidden=32, depth=2)
    labels = torch.tensor([0, 1, 2, 3, 1])
    x, t = torch.randn(5, 2, generator=_gen(10)), torch.full((5,), 0.4)
    with torch.no_grad():
        got = flow.as_velocity(model)(x, t, labels)
        want = flow.velocity_from_denoiser(lambda x_s, s: model(x_s, s, labels), x, t)
        assert torch.allclose(got, want) and not torch.allclose(got, flow.as_velocity(model)(x, t))
        v = flow.as_velocity(model)
        eps = flow.as_denoiser(v)(x, flow.t_to_sigma(t), labels)
        assert torch.allclose(eps, model(x, flow.t_to_sigma(t), labels), atol=1e-5)


def test_flow_mlp_reads_any_time_and_the_ends():
    model, _ = _random_models(3)
    x = torch.randn(4, 2, generator=_gen(11))
    with torch.no_grad():
        out = [model(x, t) for t in (0.0, torch.tensor(1.0), torch.full((4,), 0.5))]
    assert all(o.shape == (4, 2) and torch.isfinite(o).all() for o in out)


def test_sample_shapes_start_and_straightness_of_lines():
    model, _ = _random_models(4)
    traj = flow.sample(model, flow.times(6), 10, seed=3, trajectory=True)
    assert traj.shape == (7, 10, 2)
    assert torch.equal(traj[0], torch.randn(10, 2, generator=_gen(3)))  # t = 1: pure noise
    late = flow.sample(model, flow.times(6, 0.5), 10, seed=3, trajectory=True)
    assert torch.allclose(late[0], 0.5 * traj[0])  # started at t < 1: scaled like x_t
    a, b = torch.randn(5, 3), torch.randn(5, 3)
    line = torch.stack([a + s * (b - a) for s in torch.linspace(0, 1, 11)])
    assert flow.straightness(line) == pytest.approx(1.0, abs=1e-5)
    assert flow.straightness(traj) >= 1.0


def test_training_uses_the_one_loop_and_reflow_trains_on_the_coupled_pairs(monkeypatch):
    from course_lib import fit as fit_module

    calls = []
    real_fit = fit_module.fit
    monkeypatch.setattr(flow, "fit",
                        lambda *a, **k: calls.append(k.get("desc")) or real_fit(*a, **k))
    config = flow.FlowConfig(hidden=32, depth=2, steps=300, batch_size=64)
    model, losses = flow.train_spiral_flow(config, progress=False)
    assert len(losses) == 300 and sum(losses[-30:]) < sum(losses[:30])
    reflow_config = config.replace(steps=200, reflow_pairs=500, reflow_steps=10, seed=1)
    reflowed, reflow_losses, saved = flow.train_reflow(model, reflow_config, progress=False)
    assert saved == reflow_config and len(reflow_losses) == 200
    assert calls == ["flow matching", "reflow"]
    # the teacher is left as it was; the student starts from a copy of it
    assert not any(p is q for p, q in zip(model.parameters(), reflowed.parameters()))
    # the coupled noise is what the loss sees: with noise given, the batch's eps are its rows
    x0, eps = flow.reflow_pairs(model, 50, steps=5, seed=2, progress=False)
    seen = []
    monkeypatch.setattr(flow, "flow_loss", lambda v, a, t, e: seen.append((a, e)) or
                        (v(a, t) ** 2).mean())
    flow.train_flow(flow.FlowMLP(16, 1), x0, 3, batch_size=8, progress=False, noise=eps)
    for a, e in seen:
        rows = [int((x0 == row).all(dim=1).nonzero()[0]) for row in a]
        assert torch.equal(e, eps[rows])


def test_shipped_reflow_is_straighter_and_better_in_few_steps():
    flow_model = artefacts.load("spiral_flow").model
    reflow_model, config, _ = artefacts.load("spiral_reflow")
    assert config.reflow_pairs > 0 and isinstance(config, flow.FlowConfig)
    curve = spiral.make_spiral(4000)
    noise = torch.randn(500, 2, generator=_gen(12))
    dist = {}
    for name, model in [("flow", flow_model), ("reflow", reflow_model)]:
        for n in (1, 2):
            dist[name, n] = metrics2d.dist_to_data(flow.sample(model, flow.times(n), x=noise),
                                                   curve)
        straight = flow.straightness(flow.sample(model, flow.times(50), x=noise[:100],
                                                 trajectory=True))
        dist[name, "straightness"] = straight
    assert dist["reflow", 1] < 0.5 * dist["flow", 1] and dist["reflow", 2] < 0.05
    assert dist["reflow", "straightness"] < 1.02 < 1.2 < dist["flow", "straightness"]
