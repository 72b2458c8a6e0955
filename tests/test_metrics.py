"""Notebook 09's metrics against closed forms and invariants, and the two shipped examiners
(the feature encoder and the tiny CLIP) on real shapes images."""
import pytest
import scipy.linalg
import torch

from course_lib import artefacts, clip, diffusion, features, metrics, shapes, text
from course_lib.runtime import data_path
from course_lib.train import MODELS


def _spd(d, seed, rank=None):
    g = torch.Generator().manual_seed(seed)
    a = torch.randn(d, rank or d, generator=g, dtype=torch.float64)
    return a @ a.T / d + (0 if rank else 0.05) * torch.eye(d, dtype=torch.float64)


@pytest.fixture(scope="module")
def feature_net():
    return artefacts.load("features")[0]


@pytest.fixture(scope="module")
def tiny_clip():
    model, config, _ = artefacts.load("clip")
    return model, config.vocab


@pytest.fixture(scope="module")
def real():
    images, captions, _ = shapes.make_dataset(600, seed=321, include_held_out=True)
    return images, captions


def test_frechet_distance_matches_scipy_sqrtm():
    g = torch.Generator().manual_seed(0)
    for d, seed in [(3, 1), (8, 2), (20, 3)]:
        mu_a, mu_b = torch.randn(2, d, generator=g, dtype=torch.float64)
        cov_a, cov_b = _spd(d, seed), _spd(d, seed + 100)
        root = scipy.linalg.sqrtm((cov_a @ cov_b).numpy()).real      # the direct computation
        want = (((mu_a - mu_b) ** 2).sum() + cov_a.trace() + cov_b.trace()
                - 2 * float(root.trace())).item()
        got = metrics.frechet_distance(mu_a, cov_a, mu_b, cov_b)
        assert got.dtype == torch.float64 and got.shape == ()
        assert abs(got.item() - want) < 1e-8 * max(1.0, abs(want)), (d, got.item(), want)


def test_frechet_distance_closed_forms_and_singular_covariances():
    mu = torch.tensor([1.0, 2.0], dtype=torch.float64)
    a, b = torch.diag(torch.tensor([4.0, 1.0])).double(), torch.diag(torch.tensor([1.0, 9.0]))
    # diagonal: |mu_a - mu_b|^2 + sum (sqrt(a_i) - sqrt(b_i))^2 = 0 + 1 + 4
    assert abs(metrics.frechet_distance(mu, a, mu, b.double()).item() - 5.0) < 1e-12
    low_a, low_b = _spd(6, 7, rank=2), _spd(6, 8, rank=3)           # fewer samples than dims
    d2 = metrics.frechet_distance(mu.new_zeros(6), low_a, mu.new_zeros(6), low_b)
    assert torch.isfinite(d2) and d2 > 0
    assert metrics.frechet_distance(mu.new_zeros(6), low_a, mu.new_zeros(6), low_a) < 1e-7


def test_sqrtm_psd_squares_back():
    c = _spd(10, 4)
    s = metrics.sqrtm_psd(c)
    assert torch.allclose(s @ s, c, atol=1e-10) and torch.allclose(s, s.T)


def test_fid_of_a_set_with_itself_is_zero(feature_net, real):
    f = metrics.extract(feature_net.features, real[0])
    assert f.shape == (600, 64) and f.dtype == torch.float32
    assert abs(metrics.fid(f, f).item()) < 1e-6
    assert abs(metrics.fid(f, f[torch.randperm(len(f))]).item()) < 1e-6   # order is irrelevant


def test_fid_matches_gaussian_formula_for_large_gaussian_samples():
    g = torch.Generator().manual_seed(5)
    n, d = 200_000, 3
    a = torch.randn(n, d, generator=g, dtype=torch.float64)
    b = 2 * torch.randn(n, d, generator=g, dtype=torch.float64) + 1
    # N(0, I) vs N(1, 4I): |1|^2 d + d (1 - 2)^2 = 6
    assert abs(metrics.fid(a, b).item() - 6.0) < 0.05


def test_mmd2_unbiased_has_mean_zero_on_identical_distributions():
    g = torch.Generator().manual_seed(6)
    draws, biased = [], []
    for _ in range(400):
        x, y = torch.randn(2, 15, 4, generator=g, dtype=torch.float64)
        draws.append(metrics.mmd2_unbiased(x, y))
        k = metrics.polynomial_kernel
        biased.append(k(x, x).mean() + k(y, y).mean() - 2 * k(x, y).mean())
    draws, biased = torch.stack(draws), torch.stack(biased)
    stderr = draws.std() / len(draws) ** 0.5
    assert abs(draws.mean()) < 3 * stderr, (draws.mean(), stderr)
    assert biased.mean() > 10 * stderr      # the test can fail: the biased form is off by far


def test_kid_is_near_zero_for_real_vs_real_and_grows_with_noise(feature_net):
    a = metrics.extract(feature_net.features, shapes.make_dataset(400, seed=11)[0])
    real_b = shapes.make_dataset(400, seed=12)[0]
    b = metrics.extract(feature_net.features, real_b)
    noisy = metrics.extract(feature_net.features,
                            real_b + 0.2 * torch.randn(real_b.shape,
                                                       generator=torch.Generator().manual_seed(0)))
    same, same_std = metrics.kid(a, b, n_subsets=50, subset_size=200)
    worse, _ = metrics.kid(a, noisy, n_subsets=50, subset_size=200)
    assert abs(same) < 3 * same_std and worse > 10 * abs(same) + 3 * same_std
    assert metrics.fid(a, noisy) > 3 * metrics.fid(a, b)      # FID notices noise, too


def test_kid_subsets_are_reproducible():
    f = torch.randn(50, 3, generator=torch.Generator().manual_seed(1))
    assert torch.equal(torch.stack(metrics.kid(f, f + 0.1, 10, 20, seed=3)),
                       torch.stack(metrics.kid(f, f + 0.1, 10, 20, seed=3)))


def test_clip_loss_is_low_for_matching_pairs_and_symmetric():
    g = torch.Generator().manual_seed(2)
    u, v = torch.randn(2, 8, 16, generator=g)
    s = torch.tensor(4.0)
    assert metrics.clip_loss(u, u, s) < 0.1 * metrics.clip_loss(u, v, s)
    assert torch.allclose(metrics.clip_loss(u, v, s), metrics.clip_loss(v, u, s))


def test_clip_score_higher_for_matching_captions_than_shuffled(tiny_clip, real):
    model, vocab = tiny_clip
    images, captions = real
    shuffled = [captions[i] for i in torch.randperm(len(captions),
                                                    generator=torch.Generator().manual_seed(0))]
    matched = clip.score(model, vocab, images, captions)
    wrong = clip.score(model, vocab, images, shuffled)
    assert matched.shape == (600,) and matched.min() >= 0 and matched.max() <= 100
    assert matched.mean() > 85 and matched.mean() > wrong.mean() + 50
    # zero-shot: each image's best caption among all 120 is its own
    ids, mask = text.tokenize_batch(features.CLASSES, vocab)
    with torch.no_grad():
        t = torch.nn.functional.normalize(model.encode_text(ids, mask), dim=-1)
        i = torch.nn.functional.normalize(model.encode_image(images), dim=-1)
    assert ((i @ t.T).argmax(1) == features.class_ids(captions)).float().mean() > 0.95


def test_feature_encoder_loads_and_classifies(feature_net, real):
    images, captions = real
    acc = (feature_net(images).argmax(1) == features.class_ids(captions)).float().mean()
    assert acc > 0.98
    f = feature_net.features(images)
    assert 0.7 < f.pow(2).mean().sqrt() < 1.3           # scaled to unit root-mean-square


@pytest.mark.slow
def test_train_commands_are_registered_and_a_short_clip_run_learns():
    assert MODELS["features"][0] == "features.pt" and MODELS["clip"][0] == "clip.pt"
    torch.manual_seed(0)
    images, captions, _ = shapes.make_dataset(400, seed=0, include_held_out=True)
    vocab = text.build_vocab(captions)
    model = clip.TinyCLIP(len(vocab), dim=32, embed_dim=32, width=8)
    losses = clip.train_clip(model, images, captions, vocab, steps=60, batch_size=32,
                             lr=2e-3, progress=False)
    assert sum(losses[-10:]) / 10 < 0.7 * sum(losses[:10]) / 10


def _dpm_solver_pp_2m(denoiser, sigmas, x):
    """DPM-Solver++(2M) written in the sigma view (Lu et al. 2022, Algorithm 2; k-diffusion's
    sample_dpmpp_2m), first order on the first and on the last step."""
    x0_prev, h_prev = None, None
    for sigma, sigma_next in zip(sigmas[:-1], sigmas[1:]):
        x0 = x - sigma * denoiser(x, sigma)
        if sigma_next == 0:
            return x0
        h = torch.log(sigma / sigma_next)
        d = x0 if x0_prev is None else x0 + (x0 - x0_prev) * h / (2 * h_prev)
        x = sigma_next / sigma * x - torch.expm1(-h) * d
        x0_prev, h_prev = x0, h
    return x


def test_diffusers_dpm_solver_runs_on_the_course_noise_levels():
    from course_lib import evaluation
    scheduler = evaluation.dpm_solver_scheduler()
    scheduler.set_timesteps(5)
    want = diffusion.COURSE.levels(5)
    assert torch.allclose(scheduler.sigmas.float(), want, rtol=1e-3)   # float32 round-off

    def denoiser(x, sigma):  # a smooth toy: x0_hat = tanh(x) / 2
        return (x - 0.5 * torch.tanh(x)) / sigma
    x = 10 * torch.randn(6, 3, generator=torch.Generator().manual_seed(0))
    got = evaluation.scheduler_sample(evaluation.dpm_solver_scheduler(), denoiser, x, 5)
    assert torch.allclose(got, _dpm_solver_pp_2m(denoiser, want, x), atol=1e-5)


def test_text2img_generator_matches_notebook_07():
    from course_lib import evaluation, latent
    autoencoder, vae_config, _ = artefacts.load("vae")
    model, config, _ = artefacts.load("text2img")
    generate = evaluation.text2img_generator()
    prompts = ["a large red circle in the center", "a small blue square at the top left"]
    for sampler, gam in (("DDIM", 1.0), ("GE (gam=2)", 2.0)):
        want = latent.generate(model, autoencoder, vae_config.scale, config.vocab,
                               prompts, w=3.0, steps=4, seed=2, gam=gam)
        assert torch.equal(generate(prompts, 3.0, 4, sampler, seed=2), want)
    with pytest.raises(ValueError, match="unknown sampler"):
        generate(prompts, sampler="Euler")


@pytest.mark.skipif(not (data_path("clip.pt").parent / "sd_course" / "model_index.json").exists(),
                    reason="data/sd_course is not there")
def test_sd_generate_runs_every_sampler_and_restores_the_scheduler():
    from course_lib import evaluation, sd_model
    pipe = sd_model.load_course_pipeline("cpu")
    pipe.set_progress_bar_config(disable=True)
    original = pipe.scheduler
    prompts = ["a large red circle in the center", "a small blue square at the top left"]
    for sampler in evaluation.SAMPLERS:
        x = evaluation.sd_generate(pipe, prompts, sampler, steps=2, w=3.0, seed=0)
        assert x.shape == (2, 3, 32, 32) and x.min() >= -1 and x.max() <= 1
        assert pipe.scheduler is original
    a = evaluation.sd_generate(pipe, prompts, "DDIM", steps=2, seed=1)
    assert torch.equal(a, evaluation.sd_generate(pipe, prompts, "DDIM", steps=2, seed=1))
    with pytest.raises(ValueError, match="unknown sampler"):
        evaluation.sd_generate(pipe, prompts, "Euler", steps=2)
