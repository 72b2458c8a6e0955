"""The samplers agree with diffusers' schedulers step by step, and the projection view's
claims hold: the ideal denoiser is a softmax projection, DDIM is gradient descent."""
import pytest
import torch
from diffusers import DDIMScheduler, DDPMScheduler

from course_lib import artefacts, ddim, ddpm, diffusion, projection, samplers, spiral

T = 1000


@pytest.fixture(scope="module")
def setup():
    K = spiral.make_spiral(64)
    den = projection.ideal_denoiser(K)
    ab = DDPMScheduler(num_train_timesteps=T).alphas_cumprod
    x_T = torch.randn(128, 2, generator=torch.Generator().manual_seed(0))
    return K, den, ab, x_T


def test_schedules_match_diffusers():
    for kind, betas in (("linear", ddpm.linear_betas()),
                        ("squaredcos_cap_v2", ddpm.cosine_betas())):
        s = DDPMScheduler(num_train_timesteps=T, beta_schedule=kind)
        assert torch.equal(s.betas, betas), kind
        assert torch.allclose(s.alphas_cumprod, ddpm.alpha_bars(betas), atol=0, rtol=1e-6), kind


@pytest.mark.parametrize("n", [10, 20, 50])
def test_ddim_eta0_generic_sampler_matches_diffusers(setup, n):
    K, den, ab, x_T = setup
    sch = DDIMScheduler(num_train_timesteps=T, clip_sample=False)
    sch.set_timesteps(n)
    model = ddpm.eps_model(den, ab)
    x = x_T.clone()
    for t in sch.timesteps:
        x = sch.step(model(x, int(t)), t, x, eta=0.0).prev_sample
    ts = ddim.ddim_timesteps(T, n)
    assert torch.equal(ts, sch.timesteps)
    # the generic (gam = 1, mu = 0) sampler in the sigma view, started at x_T / sqrt(alpha_bar)
    traj = list(samplers.samples(den, ddim.ddim_sigmas(ab, ts), x_T / ab[ts[0]].sqrt()))
    assert len(traj) == n
    assert (traj[-1] - x).abs().max() < 1e-4
    x_own = list(ddim.ddim_samples(model, ab, ts, x_T))[-1]
    assert (x_own - x).abs().max() < 1e-6


def test_ddim_eta1_matches_diffusers_with_the_same_noise(setup):
    K, den, ab, x_T = setup
    sch = DDIMScheduler(num_train_timesteps=T, clip_sample=False)
    sch.set_timesteps(20)
    model = ddpm.eps_model(den, ab)
    g1, g2 = torch.Generator().manual_seed(5), torch.Generator().manual_seed(5)
    x = x_T.clone()
    for t in sch.timesteps:
        x = sch.step(model(x, int(t)), t, x, eta=1.0, generator=g1).prev_sample
    mine = list(ddim.ddim_samples(model, ab, ddim.ddim_timesteps(T, 20), x_T, eta=1.0,
                                  generator=g2))[-1]
    assert (mine - x).abs().max() < 1e-5


def test_ddpm_is_the_generic_sampler_with_mu_half(setup):
    K, den, ab, x_T = setup
    sch = DDPMScheduler(num_train_timesteps=T, clip_sample=False)
    sch.set_timesteps(T)
    model = ddpm.eps_model(den, ab)
    g1, g2, g3 = (torch.Generator().manual_seed(9) for _ in range(3))
    x = x_T.clone()
    for t in sch.timesteps:
        x = sch.step(model(x, int(t)), t, x, generator=g1).prev_sample
    sigmas = torch.cat([ddpm.alpha_bar_to_sigma(ab.flip(0)), torch.zeros(1)])
    generic = list(samplers.samples(den, sigmas, x_T / ab[-1].sqrt(), mu=0.5, generator=g2))[-1]
    assert (generic - x).abs().max() < 1e-3  # 1000 float32 steps apart
    own = list(ddpm.ddpm_samples(model, ab, x_T, generator=g3))[-1]
    assert (own - x).abs().max() < 1e-4


def test_ideal_denoiser_limits():
    K = spiral.make_spiral(32)
    x = torch.randn(50, 2)
    tiny = x - 1e-3 * projection.ideal_eps(x, torch.tensor(1e-3), K)
    assert torch.allclose(tiny, projection.proj_K(x, K), atol=1e-4)
    huge = x - 1e4 * projection.ideal_eps(x, torch.tensor(1e4), K)
    assert torch.allclose(huge, K.mean(0).expand(50, 2), atol=1e-2)


def test_ideal_denoiser_beats_any_network_on_the_training_loss():
    # the ideal denoiser is the exact minimiser of E||eps_hat - eps||^2 over a finite set
    K = spiral.make_spiral(256)
    g = torch.Generator().manual_seed(1)
    x0 = K[torch.randint(len(K), (4096,), generator=g)]
    sigma = diffusion.COURSE.sample(4096, g)
    eps = torch.randn(x0.shape, generator=g)
    ideal = diffusion.denoising_loss(projection.ideal_denoiser(K), x0, sigma, eps).item()
    model, _, _ = artefacts.load("spiral")
    with torch.no_grad():
        learned = diffusion.denoising_loss(model, x0, sigma, eps).item()
    assert ideal < learned


def test_ddim_step_is_gradient_descent_for_small_sigma():
    # with the ideal denoiser and sigma << the spacing of K, sigma * eps_hat = x - proj_K(x)
    K = spiral.make_spiral(32)
    x = K[:10] + 0.001 * torch.randn(10, 2)
    sigma, sigma_next = torch.tensor(0.002), torch.tensor(0.001)
    pair = torch.stack([sigma, sigma_next])
    ddim_x = next(samplers.samples(projection.ideal_denoiser(K), pair, x))
    gd_x = projection.gd_step(x, K, 1 - sigma_next / sigma)
    assert torch.allclose(ddim_x, gd_x, atol=1e-5)


def test_gradient_estimation_sampler_uses_the_previous_direction():
    K = spiral.make_spiral(64)
    den = projection.ideal_denoiser(K)
    sigmas = diffusion.COURSE.levels(10)
    a = samplers.sample(den, sigmas, 64, gam=2.0, seed=0)
    b = samplers.sample(den, sigmas, 64, gam=1.0, seed=0)
    assert not torch.allclose(a, b)
    # the first step has no previous direction, so both samplers agree after one step
    x = sigmas[0] * torch.randn(64, 2, generator=torch.Generator().manual_seed(0))
    first_a = next(samplers.samples(den, sigmas, x, gam=2.0))
    first_b = next(samplers.samples(den, sigmas, x, gam=1.0))
    assert torch.equal(first_a, first_b)
