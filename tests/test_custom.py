"""Notebook 10's library: LoRA (by hand and through peft/diffusers), the new colour and its
measure, DreamBooth's fine-tune, ControlNet, the watermark and the content filter; then the
shipped adapters and ControlNet, loaded offline and measured on a few prompts."""
import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # nothing here may download

import copy
import json
import tempfile

import numpy as np
import pytest
import torch
from torch import nn

from course_lib import (
    artefacts,
    controlnet,
    customise,
    new_shape,
    runtime,
    safety,
    sd_model,
    shapes,
)
from course_lib.judge import match_rate


@pytest.fixture(scope="module")
def tiny_pipe():
    """An untrained pipeline of the course model's architecture (no shipped weights needed)."""
    with torch.random.fork_rng():
        torch.manual_seed(0)
        pipe = sd_model.build_pipeline(tempfile.mkdtemp(prefix="course_tiny_"))
    pipe.set_progress_bar_config(disable=True)
    return pipe


@pytest.fixture(scope="module")
def judge():
    return artefacts.load("judge")[0]


# --- LoRA ------------------------------------------------------------------------------------
def test_lora_layer_starts_as_its_base_and_trains_only_a_and_b():
    torch.manual_seed(0)
    base = nn.Linear(16, 8)
    layer = customise.LoRALinear(base, r=2, alpha=4.0)
    x = torch.randn(3, 16)
    assert torch.equal(layer(x), base(x))
    trainable = {n for n, p in layer.named_parameters() if p.requires_grad}
    assert trainable == {"A", "B"}
    assert sum(p.numel() for n, p in layer.named_parameters() if n in trainable) == 2 * (16 + 8)
    with torch.no_grad():
        layer.B.normal_()
    merged = customise.merge_lora(base.weight, layer.A, layer.B, layer.alpha)
    assert torch.allclose(layer(x), x @ merged.T + base.bias, atol=1e-5)


def test_add_lora_puts_a_no_op_adapter_on_every_attention_projection(tiny_pipe):
    unet = copy.deepcopy(tiny_pipe.unet)
    x, txt = torch.randn(2, 4, 8, 8), torch.randn(2, 77, 64)
    with torch.no_grad():
        before = unet(x, 500, encoder_hidden_states=txt).sample
    n = customise.add_lora(unet, rank=4, alpha=4)
    with torch.no_grad():
        after = unet(x, 500, encoder_hidden_states=txt).sample
    assert torch.equal(before, after)                   # B = 0: exactly the base model
    lora_modules = [m for name, m in unet.named_modules() if name.endswith(tuple(
        f"{t}" for t in customise.TARGETS)) and hasattr(m, "lora_A")]
    assert len(lora_modules) == 7 * 8                   # 7 transformer blocks x 8 projections
    want = sum(4 * (m.in_features + m.out_features) for m in lora_modules)
    assert n == want and n < 0.02 * sum(p.numel() for p in unet.parameters())


@pytest.mark.slow
def test_lora_fine_tune_lowers_the_loss_and_saves_and_loads_back(tiny_pipe, tmp_path):
    from diffusers import StableDiffusionPipeline
    from peft.utils import get_peft_model_state_dict

    torch.set_num_threads(1)
    pipe = StableDiffusionPipeline(**{**tiny_pipe.components,
                                      "unet": copy.deepcopy(tiny_pipe.unet)})
    pipe.set_progress_bar_config(disable=True)
    base_unet = copy.deepcopy(pipe.unet)
    images, captions, _ = new_shape.dataset(8)
    customise.add_lora(pipe.unet, rank=4, alpha=4)

    def fixed_loss():  # the loss on one fixed batch of noise and timesteps
        g = torch.Generator().manual_seed(1)
        z, txt = customise._latents_and_text(pipe, images, captions)
        t = torch.randint(1000, (len(z),), generator=g)
        noise = torch.randn(z.shape, generator=g)
        with torch.no_grad():
            return nn.functional.mse_loss(pipe.unet(pipe.scheduler.add_noise(z, noise, t), t,
                                                    encoder_hidden_states=txt).sample,
                                          noise).item()
    before = fixed_loss()
    losses = customise.fine_tune(pipe, images, captions, steps=40, batch_size=8, lr=1e-2,
                                 progress=False)
    assert len(losses) == 40 and fixed_loss() < 0.9 * before
    state = get_peft_model_state_dict(pipe.unet)
    StableDiffusionPipeline.save_lora_weights(tmp_path, unet_lora_layers=state,
                                              weight_name="t.safetensors")
    fresh = StableDiffusionPipeline(**{**tiny_pipe.components, "unet": base_unet})
    fresh.load_lora_weights(tmp_path, weight_name="t.safetensors", adapter_name="t")
    x, txt = torch.randn(1, 4, 8, 8), torch.randn(1, 77, 64)
    with torch.no_grad():
        want = pipe.unet(x, 300, encoder_hidden_states=txt).sample
        got = fresh.unet(x, 300, encoder_hidden_states=txt).sample
        fresh.disable_lora()
        off = fresh.unet(x, 300, encoder_hidden_states=txt).sample
    assert (got - want).abs().max() < 1e-5 and (off - want).abs().max() > 1e-3


# --- the new shape and its measure -------------------------------------------------------------
def test_shape_measure_reads_all_four_rendered_shapes_and_the_judge_reads_crosses(judge):
    rng = np.random.default_rng(3)
    combos = [shapes.Attributes(s, c, p, z) for s in (*shapes.SHAPES, new_shape.NAME)
              for c in shapes.COLOURS for p in shapes.POSITIONS for z in shapes.SIZES]
    attrs = [combos[i] for i in rng.integers(len(combos), size=200)]
    images = torch.stack([new_shape.render(a, rng) for a in attrs])
    assert new_shape.shape_names(images) == [a.shape for a in attrs]
    crosses, captions, cross_attrs = new_shape.dataset(40, seed=4)
    assert all(" cross " in c and "large" in c for c in captions)
    assert new_shape.concept_match(judge, crosses, cross_attrs)["all"] == 1.0
    assert new_shape.shape_names(torch.full((1, 3, 32, 32), 0.08 * 2 - 1)) == ["none"]
    # new_shape.render draws the old shapes exactly as shapes.render does
    assert torch.equal(new_shape.render(shapes.all_attributes()[7], np.random.default_rng(6)),
                       shapes.render(shapes.all_attributes()[7], np.random.default_rng(6)))


def test_prior_preservation_loss_is_weighted_per_group():
    eps_hat, eps = torch.zeros(4, 2), torch.tensor([[1.0, 1], [1, 1], [2, 2], [2, 2]])
    is_prior = torch.tensor([False, False, True, True])
    assert customise.prior_preservation_loss(eps_hat, eps, is_prior, 0.5).item() == 1 + 0.5 * 4
    assert customise.prior_preservation_loss(eps_hat, eps, ~is_prior | True, 1.0).isnan()


# --- ControlNet --------------------------------------------------------------------------------
def test_controlnet_starts_as_a_no_op_and_its_mask_is_the_shape(tiny_pipe):
    net = controlnet.build_controlnet(tiny_pipe.unet)
    images, captions, _ = shapes.make_dataset(4, seed=5)
    mask = controlnet.layout_mask(images)
    assert mask.shape == (4, 3, 32, 32) and set(mask.unique().tolist()) == {0.0, 1.0}
    assert torch.equal(controlnet.mask_iou(images, mask), torch.ones(4))
    x, t, txt = torch.randn(4, 4, 8, 8), torch.tensor([900, 500, 100, 10]), torch.randn(4, 77, 64)
    with torch.no_grad():
        plain = tiny_pipe.unet(x, t, encoder_hidden_states=txt).sample
        steered = controlnet.controlled_unet(tiny_pipe.unet, net, x, t, txt, mask)
    assert torch.equal(plain, steered)
    assert controlnet.drop_position("a small red circle in the center") == "a small red circle"
    assert all(controlnet.drop_position(c).count(" at ") == 0 for c in captions)


def test_controlnet_training_steps_change_only_the_controlnet(tiny_pipe):
    torch.set_num_threads(1)
    net = controlnet.build_controlnet(tiny_pipe.unet)
    unet_before = copy.deepcopy(tiny_pipe.unet.state_dict())
    images, captions, _ = shapes.make_dataset(16, seed=6)
    losses = controlnet.train_controlnet(tiny_pipe, net, images, captions, steps=3, batch_size=4,
                                         progress=False)
    assert len(losses) == 3 and all(np.isfinite(losses))
    assert net.controlnet_mid_block.weight.abs().max() > 0       # the zero convs have moved
    assert all(torch.equal(v, tiny_pipe.unet.state_dict()[k]) for k, v in unet_before.items())


# --- watermark and filter ----------------------------------------------------------------------
def test_watermark_score_is_standard_normal_without_the_key_and_large_with_it():
    images = (shapes.make_dataset(200, seed=8, include_held_out=True)[0] + 1) / 2
    z = torch.cat([safety.watermark_score(images, safety.watermark_signs(k)) for k in range(20)])
    assert abs(z.mean()) < 0.05 and abs(z.std() - 1) < 0.05 and z.abs().max() < 5
    marked = safety.embed_watermark(images, safety.watermark_signs(1))
    assert (marked - images).abs().max() <= safety.STRENGTH + 1e-6
    assert safety.detect(marked, 1).all() and not safety.detect(marked, 2).any()
    assert safety.detect(safety.resized(marked, 24), 1).float().mean() > 0.9
    assert safety.detect(safety.resized(marked, 8), 1).float().mean() < 0.1  # blocks lost


def test_blocked_words_match_whole_words_in_any_case():
    assert safety.blocked_words("A large TRIANGLE in the center", ["triangle"]) == ["triangle"]
    assert safety.blocked_words("a large red triangles", ["triangle"]) == []
    assert safety.blocked_words("a small red circle", ["triangle", "red"]) == ["red"]


def test_filter_in_the_pipelines_safety_checker_slot(tiny_pipe):

    model, config, _ = artefacts.load("clip")
    concept, others = ["a large red triangle in the center"], ["a large red circle at the top"]
    prompts = ["a large red triangle in the center", "a small blue circle at the top left",
               "a large green square in the center"]
    for threshold, flagged in ((-3.0, True), (3.0, False)):  # a difference of two cosines
        filt = safety.ConceptFilter(model, config.vocab, concept, others, threshold)
        safe = safety.classroom_pipeline(tiny_pipe, filt)
        images, notes = safety.generate_for_class(
            safe, prompts, key=5, blocked=["triangle"], num_inference_steps=2,
            generator=torch.Generator().manual_seed(0))
        assert notes[0] == "refused: names triangle" and len(images) == 2
        assert notes[1:] == ["blanked by the image filter" if flagged else "ok"] * 2
        plain = safe(prompts[1:], num_inference_steps=2, output_type="pt",
                     generator=torch.Generator().manual_seed(0)).images
        marked = safety.embed_watermark(plain, safety.watermark_signs(5))
        assert torch.allclose(images, marked, atol=1e-6)     # every returned image is marked
        assert (images.abs().max() <= safety.STRENGTH + 1e-6) == flagged   # black + watermark


# --- the shipped artefacts ---------------------------------------------------------------------
@pytest.fixture(scope="module")
def pipe():
    pipe = sd_model.load_course_pipeline(device="cpu")
    pipe.set_progress_bar_config(disable=True)
    return pipe


@pytest.mark.slow
def test_shipped_adapters_are_small_and_teach_the_cross(pipe, judge):
    for name in customise.ADAPTERS:
        path = runtime.data_path(f"{name}.safetensors")
        assert path.stat().st_size < 200_000, name
        record = json.loads(runtime.data_path(f"{name}.json").read_text(encoding="utf-8"))
        assert record["word"] == customise.ADAPTERS[name][0]
    attrs = [shapes.Attributes("cross", c, p, "large") for c in shapes.COLOURS
             for p in shapes.POSITIONS]                                     # 20 prompts
    old = shapes.all_attributes()[::5]                                      # 20 old prompts
    before = new_shape.shape_names(customise.generate(pipe, [a.caption for a in attrs], 10))
    customise.load_adapter(pipe, "dreambooth_sks")
    try:
        sks = [new_shape.caption(a, "sks") for a in attrs]
        after = new_shape.shape_names(customise.generate(pipe, sks, 10))
        kept = match_rate(judge, customise.generate(pipe, [a.caption for a in old], 10), old)
    finally:
        pipe.unload_lora_weights()
    # measured on the shipped files (10 steps, one thread): 0 crosses before, 11 of 20 after,
    # old prompts 100%
    assert before.count("cross") == 0 and after.count("cross") >= 6, (before, after)
    assert kept["all"] >= 0.8, kept


def test_shipped_controlnet_puts_shapes_where_the_mask_says(pipe, judge):
    net = controlnet.load_controlnet()
    assert sum(f.stat().st_size for f in runtime.data_path(controlnet.FOLDER).iterdir()) < 3.2e6
    attrs = [shapes.Attributes("square", "red", p, "large") for p in shapes.POSITIONS]
    control = controlnet.layout_mask(torch.stack([shapes.render(a) for a in attrs]))
    prompts = ["a large red square"] * len(attrs)
    images = controlnet.control_pipeline(pipe, net)(
        prompts, image=control, num_inference_steps=10, guidance_scale=3.0, output_type="pt",
        generator=torch.Generator().manual_seed(0)).images * 2 - 1
    where = judge.predict(images)[:, 2].tolist()
    # measured on the shipped file (10 steps, one thread): 5 of 5 places, IoU 0.83 to 0.94
    assert sum(w == i for i, w in enumerate(where)) >= 4, where
    assert controlnet.mask_iou(images, control).mean() > 0.6
