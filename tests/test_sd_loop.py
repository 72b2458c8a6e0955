"""Stable Diffusion by hand (notebook 08): the hand-written phases equal diffusers' pipelines
on a tiny random-weight pipeline, the course sampler drives a diffusers U-Net, the loader
falls back to the course model with a reason, and (with CUDA only) the fp16 GPU path."""
import copy

import pytest
import torch
from diffusers import EulerDiscreteScheduler, StableDiffusionImg2ImgPipeline

from course_lib import sd_loop, sd_weights, shapes
from course_lib.exercises.nb08.probes import PROMPTS, probe_pipeline


@pytest.fixture
def pipe():
    return copy.deepcopy(probe_pipeline())


def test_loop_matches_the_pipeline_with_an_euler_scheduler(pipe):
    # Euler works in the sigma view: init_noise_sigma and scale_model_input are not trivial
    pipe.scheduler = EulerDiscreteScheduler.from_config(pipe.scheduler.config)
    assert pipe.scheduler.init_noise_sigma > 1
    ours = sd_loop.generate_latents(pipe, PROMPTS, steps=5, w=3.0,
                                    generator=torch.Generator().manual_seed(0))
    theirs = pipe(PROMPTS, num_inference_steps=5, guidance_scale=3.0, output_type="latent",
                  generator=torch.Generator().manual_seed(0)).images
    assert (ours - theirs).abs().max() < 1e-5


def test_img2img_by_hand_matches_diffusers(pipe):
    image = (shapes.make_dataset(2, seed=4)[0] + 1) / 2
    g = torch.Generator().manual_seed(5)
    ours = sd_loop.img2img_latents(pipe, sd_loop.encode_image(pipe.vae, image, g), PROMPTS,
                                   strength=0.6, steps=10, w=4.0, generator=g)
    i2i = StableDiffusionImg2ImgPipeline(**pipe.components)
    theirs = i2i(PROMPTS, image=image, strength=0.6, num_inference_steps=10, guidance_scale=4.0,
                 generator=torch.Generator().manual_seed(5), output_type="latent").images
    assert (ours - theirs).abs().max() < 1e-5


def test_inpainting_keeps_the_unmasked_region(pipe):
    image = (shapes.make_dataset(1, seed=6)[0] + 1) / 2
    z0 = sd_loop.encode_image(pipe.vae, image, torch.Generator().manual_seed(0))
    mask = torch.zeros(1, 1, 8, 8)
    mask[..., 4:] = 1
    out = sd_loop.img2img_latents(pipe, z0, PROMPTS[:1], 1.0, steps=6, w=3.0,
                                  generator=torch.Generator().manual_seed(1), mask=mask)
    assert torch.allclose(out[..., :4], z0[..., :4])
    assert not torch.allclose(out[..., 4:], z0[..., 4:])


def test_course_sampler_drives_a_diffusers_unet(pipe):
    a = sd_loop.course_sampler_latents(pipe, PROMPTS, steps=4, gam=2.0, seed=0)
    b = sd_loop.course_sampler_latents(pipe, PROMPTS, steps=4, gam=1.0, seed=0)
    assert a.shape == (2, 4, 8, 8) and torch.isfinite(a).all()
    assert not torch.allclose(a, b)


def test_bridge_converts_v_prediction_to_eps(pipe):
    # the course model predicts v; DDIMScheduler's own conversion is the reference
    from diffusers import DDIMScheduler

    from course_lib import bridge
    sched = pipe.scheduler
    ab = sched.alphas_cumprod
    embeds = sd_loop.encode_prompt(pipe.tokenizer, pipe.text_encoder, PROMPTS[:1], [""])[1:]
    as_eps = DDIMScheduler.from_config(sched.config, prediction_type="epsilon")
    den_v = bridge.UNetDenoiser(pipe.unet, DDIMScheduler.from_config(
        sched.config, prediction_type="v_prediction"))
    den_e = bridge.UNetDenoiser(pipe.unet, as_eps)
    sigma = ((1 - ab[501]) / ab[501]).sqrt()                  # the sigma of t = 501
    assert den_v.sigma_to_t(sigma[None]).item() == 501
    x_t = torch.randn(1, 4, 8, 8, generator=torch.Generator().manual_seed(7))
    x_sigma = x_t * torch.sqrt(1 + sigma**2)
    v = den_e(x_sigma, sigma, embeds)                         # the raw U-Net output, read as v
    want = ab[501].sqrt() * v + (1 - ab[501]).sqrt() * x_t    # DDIMScheduler.step's pred_epsilon
    assert (den_v(x_sigma, sigma, embeds) - want).abs().max() < 1e-5


def test_bridge_levels_are_the_schedulers_own_sigmas(pipe):
    from course_lib import bridge, ddim
    sched = type(pipe.scheduler).from_config(pipe.scheduler.config)
    sched.set_timesteps(5)
    want = ddim.ddim_sigmas(sched.alphas_cumprod, sched.timesteps)
    assert torch.allclose(bridge.levels(pipe.scheduler, 5), want.float())
    den = bridge.UNetDenoiser(pipe.unet, pipe.scheduler)
    assert torch.equal(den.sigma_to_t(want[:-1]), sched.timesteps)


def test_bridge_guidance_and_sampler_at_gam_1_are_the_pipelines_ddim(pipe):
    """The bridge, the one guidance and the sampler at gam = 1, started from the pipeline's
    own x_T (x_sigma = x_T * sqrt(1 + sigma^2)), walk the pipeline's DDIM steps (ending at
    alpha_bar = 1, sigma = 0, as the course's levels do)."""
    from diffusers import DDIMScheduler

    from course_lib import bridge, guidance, samplers
    saved = pipe.scheduler
    pipe.scheduler = DDIMScheduler.from_config(saved.config, set_alpha_to_one=True)
    try:
        theirs = sd_loop.generate_latents(pipe, PROMPTS, steps=5, w=3.0,
                                          generator=torch.Generator().manual_seed(3))
        embeds = sd_loop.encode_prompt(pipe.tokenizer, pipe.text_encoder, PROMPTS, ["", ""])
        empty, text = embeds.chunk(2)
        den = guidance.guided(bridge.UNetDenoiser(pipe.unet, pipe.scheduler), text, 3.0, empty)
        sigmas = bridge.levels(pipe.scheduler, 5)
        x_T = torch.randn(theirs.shape, generator=torch.Generator().manual_seed(3))
        ours = list(samplers.samples(den, sigmas, x_T * (1 + sigmas[0] ** 2).sqrt()))[-1]
    finally:
        pipe.scheduler = saved
    assert (ours - theirs).abs().max() < 1e-3 * theirs.abs().max()


def test_choose_explains_the_fallback(monkeypatch, tmp_path):
    monkeypatch.setenv("COURSE_SD_DIR", str(tmp_path))
    monkeypatch.setenv("COURSE_DEVICE", "cpu")
    folder, device, dtype, reason = sd_weights.choose("sd15")
    assert folder == sd_weights.COURSE_MODEL and dtype == torch.float32
    assert "no CUDA GPU here" in reason


def test_missing_model_folder_is_a_plain_message(tmp_path):
    with pytest.raises(FileNotFoundError, match="python -m course_lib.train sd_course"):
        sd_weights.load_pipeline(tmp_path, torch.device("cpu"), torch.float32)


def test_model_ids_are_pinned_in_one_place():
    assert sd_weights.SD_MODELS["sd15"][0] == "stable-diffusion-v1-5/stable-diffusion-v1-5"
    assert all(len(v) == 2 for v in sd_weights.SD_MODELS.values())


cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


@cuda
def test_gpu_fp16_course_model_loop_matches_pipeline():
    pipe = sd_weights.load_pipeline(sd_weights.COURSE_MODEL, torch.device("cuda"), torch.float16)
    assert pipe.unet.dtype == torch.float16 and pipe.device.type == "cuda"
    ours = sd_loop.decode(pipe.vae, sd_loop.generate_latents(
        pipe, PROMPTS, steps=10, w=5.0, generator=torch.Generator().manual_seed(0)))
    theirs = pipe(PROMPTS, num_inference_steps=10, guidance_scale=5.0, output_type="pt",
                  generator=torch.Generator().manual_seed(0)).images
    assert ours.device.type == "cuda" and (ours - theirs).abs().max() < 1e-2


@cuda
def test_gpu_img2img_and_course_sampler_run_in_fp16():
    pipe = sd_weights.load_pipeline(sd_weights.COURSE_MODEL, torch.device("cuda"), torch.float16)
    image = ((shapes.make_dataset(1, seed=2)[0] + 1) / 2).to("cuda", torch.float16)
    g = torch.Generator().manual_seed(0)
    z = sd_loop.img2img_latents(pipe, sd_loop.encode_image(pipe.vae, image, g), PROMPTS[:1],
                                0.6, steps=8, w=5.0, generator=g)
    assert torch.isfinite(z).all()
    x = sd_loop.course_sampler_latents(pipe, PROMPTS, steps=6, seed=0)
    assert torch.isfinite(x).all()
