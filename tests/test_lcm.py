"""Notebook 11's latent consistency distillation: the consistency function equals diffusers'
LCMScheduler's boundary scalings, the target is the teacher's guided DDIM step (diffusers'
DDIMScheduler.step) under the target network, the sampling loop equals the student pipeline
with LCMScheduler, the training loop trains only the LoRA, and the shipped LCM-LoRA is small
and loads offline."""
import json

import pytest
import torch

from course_lib import lcm, runtime


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_consistency_fn_is_lcm_schedulers_boundary_condition():
    from diffusers import LCMScheduler

    sched = LCMScheduler()
    t = torch.tensor([0, 1, 2, 19, 259, 999])
    x, x0 = torch.randn(6, 4, 2, 2, generator=_gen(1)), torch.randn(6, 4, 2, 2, generator=_gen(2))
    out = lcm.consistency_fn(x, x0, t)
    for i, ti in enumerate(t.tolist()):
        c_skip, c_out = sched.get_scalings_for_boundary_condition_discrete(ti)
        assert torch.allclose(out[i], c_skip * x[i] + c_out * x0[i], atol=1e-6)
    assert torch.equal(out[0], x[0])                        # the boundary condition
    assert torch.allclose(out[-1], x0[-1], atol=1e-6)        # far from 0: the data guess


@pytest.fixture(scope="module")
def course_pipe():
    from course_lib import sd_model

    pipe = sd_model.load_course_pipeline("cpu")
    pipe.set_progress_bar_config(disable=True)
    return pipe


@pytest.fixture(scope="module")
def student():
    return lcm.load_student(device="cpu")


def _embeds(pipe, prompts):
    return lcm.text_states(pipe, prompts), lcm.text_states(pipe, [""])


def test_x0_and_eps_invert_the_noising(course_pipe):
    acp = course_pipe.scheduler.alphas_cumprod
    x0, eps = torch.randn(3, 4, 8, 8, generator=_gen(3)), torch.randn(3, 4, 8, 8, generator=_gen(4))
    t = torch.tensor([10, 500, 990])
    a = acp[t].reshape(-1, 1, 1, 1)
    x_t = a.sqrt() * x0 + (1 - a).sqrt() * eps
    v = a.sqrt() * eps - (1 - a).sqrt() * x0
    got_x0, got_eps = lcm.x0_and_eps(v, x_t, t, acp, "v_prediction")
    assert torch.allclose(got_x0, x0, atol=1e-5) and torch.allclose(got_eps, eps, atol=1e-5)
    got_x0, got_eps = lcm.x0_and_eps(eps, x_t, t, acp, "epsilon")
    assert torch.allclose(got_x0, x0, atol=1e-4) and torch.equal(got_eps, eps)


def test_the_target_is_the_teachers_guided_ddim_step(course_pipe):
    """With an identity target network, lcm_target on the course U-Net is diffusers'
    DDIMScheduler (50 steps) stepping the guided noise guess from t to t - 20."""
    from diffusers import DDIMScheduler

    text, empty = _embeds(course_pipe, ["a large red circle at the top left"] * 2)
    teacher = lcm.teacher_fn(course_pipe.unet, course_pipe.scheduler)
    acp = course_pipe.scheduler.alphas_cumprod
    x_t = torch.randn(2, 4, 8, 8, generator=_gen(5))
    t = torch.tensor([519, 519])
    got = lcm.lcm_target(teacher, lambda x, s, c: x + 0, x_t, t, t - 20, acp, text, empty, 3.0)
    ddim = DDIMScheduler.from_config(course_pipe.scheduler.config)
    ddim.set_timesteps(50)
    with torch.no_grad():
        out = course_pipe.unet(torch.cat([x_t] * 2), 519,
                               encoder_hidden_states=torch.cat([empty.expand(2, -1, -1),
                                                                text])).sample
        v_u, v_c = out.chunk(2)
        v = v_u + 3.0 * (v_c - v_u)   # guidance is linear: guided v gives the guided eps
        want = ddim.step(v, 519, x_t).prev_sample
    assert torch.allclose(got, want, atol=1e-4), (got - want).abs().max()
    assert not got.requires_grad


def test_lcm_samples_equal_the_student_pipeline_with_lcm_scheduler(student):
    prompts = ["a small blue square in the middle", "a large green triangle at the bottom right"]
    for steps in (1, 4):
        theirs = student(prompts, num_inference_steps=steps, guidance_scale=1.0,
                         output_type="latent", generator=_gen(6)).images
        ours = lcm.lcm_latents(student, prompts, steps, generator=_gen(6))
        assert torch.allclose(theirs, ours, atol=1e-4), (steps, (theirs - ours).abs().max())
    assert type(student.scheduler).__name__ == "LCMScheduler"
    student.scheduler.set_timesteps(4)
    assert student.scheduler.timesteps.tolist() == [999, 759, 499, 259]


def test_train_lcm_trains_only_the_lora_and_the_target_follows(course_pipe):
    import copy

    from course_lib import customise, sd_model, shapes

    pipe = copy.deepcopy(course_pipe)
    customise.add_lora(pipe.unet, 4, 4, lcm.TARGETS)
    frozen = {k: v.clone() for k, v in pipe.unet.state_dict().items() if "lora" not in k}
    images, captions, _ = shapes.make_dataset(8, seed=3)
    text, empty = _embeds(pipe, captions)
    losses = lcm.train_lcm(pipe, sd_model.encode_latents(pipe.vae, images), text, empty,
                           steps=2, batch_size=4, progress=False)
    assert len(losses) == 2 and all(loss > 0 for loss in losses)
    state = pipe.unet.state_dict()
    assert all(torch.equal(state[k], v) for k, v in frozen.items())
    lora_b = [v for k, v in state.items() if "lora_B" in k]
    assert any(v.abs().max() > 0 for v in lora_b)      # B starts at zero: it has moved


def test_shipped_lcm_lora_is_small_and_documented():
    path = runtime.data_path(f"{lcm.NAME}.safetensors")
    assert path.stat().st_size < 3_000_000
    record = json.loads(runtime.data_path(f"{lcm.NAME}.json").read_text())
    assert record["config"]["w"] == lcm.W and len(record["losses"]) == record["config"]["steps"]
    readme = (runtime.DATA_DIR / "README.md").read_text()
    assert "python -m course_lib.train lcm_lora" in readme
