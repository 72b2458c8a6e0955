"""SDXL by hand (notebook 08): the course's SDXL-shaped model data/sdxl_course loads the plain
diffusers way (float32, and float16 as variant="fp16"); converted from sd_course it changes
nothing until fine-tuned, and the fine-tune made the second encoder, the pooled embedding and
the micro-conditioning matter; course_lib.sdxl_loop equals StableDiffusionXLPipeline."""
import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # nothing here may download

import json

import pytest
import torch
from diffusers import (
    DDIMScheduler,
    DiffusionPipeline,
    EulerDiscreteScheduler,
    StableDiffusionXLPipeline,
)

from course_lib import runtime, sd_model, sd_weights, sdxl_loop, sdxl_model, shapes

FOLDER = runtime.DATA_DIR / sdxl_model.FOLDER
PROMPTS = ["a small red circle at the top left", "a large blue square in the center"]
# the U-Net's RMS change / RMS output when one SDXL-only input changes, at least: a third of
# the shipped model's (0.31, 0.062, 0.29, 0.49, in data/sdxl_course/losses.json; all 0 before)
EFFECT_FLOOR = {"text_encoder_2": 0.1, "pooled": 0.02, "original_size": 0.1, "crop": 0.15}


@pytest.fixture(scope="module")
def shipped():
    pipe = StableDiffusionXLPipeline.from_pretrained(FOLDER)  # no arguments, as a user would
    pipe.set_progress_bar_config(disable=True)
    return pipe


@pytest.fixture(scope="module")
def source():
    return sd_model.load_course_pipeline(device="cpu")


def test_the_folder_loads_the_plain_diffusers_way_and_as_an_fp16_variant(shipped):
    assert type(DiffusionPipeline.from_pretrained(FOLDER)) is StableDiffusionXLPipeline
    parts = ("unet", "vae", "text_encoder", "text_encoder_2")
    assert all(getattr(shipped, p).dtype == torch.float32 for p in parts)
    image = shipped("a red circle", num_inference_steps=2, output_type="pt",
                    generator=torch.Generator().manual_seed(0)).images
    assert image.shape == (1, 3, 32, 32) and torch.isfinite(image).all()
    half = StableDiffusionXLPipeline.from_pretrained(FOLDER, variant="fp16", dtype=torch.float16)
    for p in parts:                       # float16 math is not run here: a CPU may lack it
        assert getattr(half, p).dtype == torch.float16, p
        for (name, w32), w16 in zip(getattr(shipped, p).state_dict().items(),
                                    getattr(half, p).state_dict().values()):
            assert torch.equal(w32.half(), w16), f"{p}.{name}"
    mib = sum(f.stat().st_size for f in FOLDER.rglob("*.safetensors")) / 2**20
    assert mib < 30, f"data/sdxl_course weighs {mib:.1f} MiB"


def test_the_shipped_model_is_sd_course_grown_into_sdxl(shipped, source):
    d1, d2 = (shipped.text_encoder.config.hidden_size,
              shipped.text_encoder_2.config.hidden_size)
    config = shipped.unet.config
    assert config.cross_attention_dim == d1 + d2 and config.addition_embed_type == "text_time"
    assert shipped.config.force_zeros_for_empty_prompt
    assert shipped.tokenizer_2.get_vocab() == source.tokenizer.get_vocab()
    assert dict(shipped.scheduler.config) == dict(source.scheduler.config)
    for part in ("vae", "text_encoder"):                # kept frozen by the fine-tune
        for (name, a), b in zip(getattr(shipped, part).state_dict().items(),
                                getattr(source, part).state_dict().values()):
            assert torch.equal(a, b), f"{part}.{name}"


def test_before_fine_tuning_the_new_inputs_change_nothing(source):
    """The zero key/value columns and the zero last layer of the added embedding are exact
    no-ops: the converted U-Net's output is sd_course's, whatever the new inputs hold."""
    xl = sdxl_model.convert(source)
    g = torch.Generator().manual_seed(0)
    x, t = torch.randn(3, 4, 8, 8, generator=g), torch.tensor([10, 500, 990])
    h1, h2 = torch.randn(3, 77, 64, generator=g), 3 * torch.randn(3, 77, 96, generator=g)
    added = {"text_embeds": torch.randn(3, 32, generator=g),
             "time_ids": sdxl_loop.add_time_ids((8, 16), (4, 2), (32, 32), 3)}
    with torch.no_grad():
        ours = xl.unet(x, t, encoder_hidden_states=torch.cat([h1, h2], -1),
                       added_cond_kwargs=added).sample
        theirs = source.unet(x, t, encoder_hidden_states=h1).sample
    assert torch.equal(ours, theirs)
    assert set(sdxl_model.condition_effects(xl).values()) == {0.0}


def test_the_fine_tune_made_the_new_inputs_matter(shipped):
    effects = sdxl_model.condition_effects(shipped)
    assert all(effects[k] > floor for k, floor in EFFECT_FLOOR.items()), effects
    record = json.loads((FOLDER / "losses.json").read_text(encoding="utf-8"))
    assert set(record["effects_before"].values()) == {0.0}
    losses = record["losses"]
    assert sum(losses[-50:]) < 0.8 * sum(losses[:50])


def test_a_fine_tune_step_reaches_the_zero_initialised_parts(source):
    xl = sdxl_model.convert(source)
    images, captions, _ = shapes.make_dataset(8, seed=1)
    images, time_ids = sdxl_model.micro_conditioned(images, torch.Generator().manual_seed(1))
    sdxl_model.fine_tune(xl, images, captions, time_ids, steps=2, batch_size=4, progress=False)
    assert xl.unet.add_embedding.linear_2.weight.abs().sum() > 0
    to_k = xl.unet.down_blocks[0].attentions[0].transformer_blocks[0].attn2.to_k.weight
    assert to_k[:, 64:].abs().sum() > 0


def test_micro_conditioned_images_say_how_they_were_made():
    images, _, _ = shapes.make_dataset(64, seed=2)
    out, ids = sdxl_model.micro_conditioned(images, torch.Generator().manual_seed(3))
    assert out.shape == images.shape and ids.shape == (64, 6)
    assert set(ids[:, 0].tolist()) == {8.0, 16.0, 32.0} and (ids[:, 4:] == 32).all()
    untouched = (ids[:, 0] == 32) & (ids[:, 2:4] == 0).all(1)
    assert torch.equal(out[untouched], images[untouched])
    assert not torch.allclose(out[~untouched], images[~untouched])


def test_encode_prompt_xl_equals_the_pipelines(shipped):
    tok = (shipped.tokenizer, shipped.tokenizer_2)
    enc = (shipped.text_encoder, shipped.text_encoder_2)
    for neg in (None, ["", "green"]):
        embeds, pooled = sdxl_loop.encode_prompt_xl(tok, enc, PROMPTS, neg)
        e, ne, p, npool = shipped.encode_prompt(PROMPTS, device="cpu", negative_prompt=neg)
        assert torch.equal(embeds, torch.cat([ne, e]))
        assert torch.equal(pooled, torch.cat([npool, p]))
        assert embeds.shape == (4, 77, 64 + 96) and pooled.shape == (4, 32)
    zeros = sdxl_loop.encode_prompt_xl(tok, enc, PROMPTS[:1])[0][0]
    empty = sdxl_loop.encode_prompt_xl(tok, enc, PROMPTS[:1], zeros_for_empty=False)[0][0]
    assert not zeros.any() and empty.abs().sum() > 0


def test_add_time_ids_equals_the_pipelines(shipped):
    theirs = shipped._get_add_time_ids((24, 32), (4, 0), (32, 32), torch.float32,
                                       shipped.text_encoder_2.config.projection_dim)
    assert torch.equal(sdxl_loop.add_time_ids((24, 32), (4, 0), (32, 32), 1), theirs)


def test_the_library_runs_the_notebooks_sdxl_answers():
    """Notebook 08's SDXL exercises are what sdxl_loop runs: one reference, no copy to drift."""
    from course_lib.checking.registry import EXERCISES

    assert sdxl_loop.sdxl_encode_prompt is EXERCISES["sdxl_encode_prompt"].reference
    assert sdxl_loop.sdxl_time_ids is EXERCISES["sdxl_time_ids"].reference
    guided = sdxl_loop.sdxl_time_ids((8, 16), (4, 2), (32, 24), 3, dtype=torch.float16)
    assert guided.shape == (6, 6) and guided.dtype == torch.float16
    assert guided[5].tolist() == [8, 16, 4, 2, 32, 24]


CASES = {  # (scheduler, prompts, negative prompts, force_zeros_for_empty_prompt, sizes)
    "ddim-two": ("ddim", PROMPTS, None, True, {}),
    "ddim-one-negative": ("ddim", PROMPTS[:1], ["blue"], True, {}),
    "ddim-empty-prompt-encoded": ("ddim", PROMPTS, None, False, {}),
    "euler-two-negative": ("euler", PROMPTS, ["", "a square"], True, {}),
    "euler-one": ("euler", PROMPTS[:1], None, True, {}),
    "euler-sizes-and-crop": ("euler", PROMPTS, None, True,
                             {"original_size": (8, 8), "crop_top_left": (8, 4)}),
}


@pytest.mark.parametrize("case", list(CASES))
def test_the_hand_loop_equals_the_pipeline(shipped, case):
    kind, prompts, negatives, zeros, sizes = CASES[case]
    scheduler = (EulerDiscreteScheduler if kind == "euler" else DDIMScheduler).from_config(
        shipped.scheduler.config)
    if kind == "euler":
        assert scheduler.init_noise_sigma > 1          # scale_model_input matters here
    pipe = StableDiffusionXLPipeline(**{**shipped.components, "scheduler": scheduler},
                                     force_zeros_for_empty_prompt=zeros)
    pipe.set_progress_bar_config(disable=True)
    ours = sdxl_loop.generate_latents_xl(pipe, prompts, negatives, steps=4, w=4.0,
                                         generator=torch.Generator().manual_seed(0), **sizes)
    theirs = pipe(prompts, negative_prompt=negatives, num_inference_steps=4, guidance_scale=4.0,
                  generator=torch.Generator().manual_seed(0), output_type="latent",
                  original_size=sizes.get("original_size"),
                  crops_coords_top_left=sizes.get("crop_top_left", (0, 0))).images
    assert ours.shape == (len(prompts), 4, 8, 8)
    assert (ours - theirs).abs().max() <= 1e-5


def test_a_course_choice_picks_the_sdxl_model_on_any_device():
    folder, device, dtype, reason = sd_weights.choose_xl("sdxl_course")
    assert folder == FOLDER and "sdxl_course" in reason
    assert dtype == (torch.float16 if device.type == "cuda" else torch.float32)
    if device.type == "cpu":                 # the real models still fall back to sd_course
        assert sd_weights.choose("sdxl")[0] == sd_weights.COURSE_MODEL
    pipe = sdxl_model.load_course_xl_pipeline(device="cpu")
    assert isinstance(pipe, StableDiffusionXLPipeline) and pipe.unet.dtype == torch.float32


def test_missing_folder_names_the_training_command(monkeypatch, tmp_path):
    monkeypatch.setattr(runtime, "DATA_DIR", tmp_path)
    with pytest.raises(FileNotFoundError, match="python -m course_lib.train sdxl_course"):
        sdxl_model.load_course_xl_pipeline(device="cpu")


@pytest.mark.parametrize("name", ["sdxl", "sdxl_course"])
def test_an_sdxl_name_keeps_the_sd1_sections_on_sd1_and_the_sdxl_section_on_sdxl(name):
    # COURSE_SD_MODEL=sdxl runs notebook 08 top to bottom: SD 1.x cells get SD 1.5 (here,
    # without a GPU, the course model) and the SDXL section gets SDXL (here, the course's)
    from course_lib import sd_weights

    folder, _, _, reason = sd_weights.choose(name)
    assert folder == sd_weights.COURSE_MODEL, reason
    xl_folder, _, _, xl_reason = sd_weights.choose_xl(name)
    assert xl_folder == sd_weights.COURSE_MODELS["sdxl_course"] and "SDXL" in xl_reason
