"""The course's diffusers-format model (notebook 08): its CLIP tokenizer learned from the
captions, and the shipped data/sd_course pipeline, loaded offline, generating, on prompt."""
import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # nothing here may download

import json
import random

import pytest
import torch

from course_lib import artefacts, runtime, sd_model, shapes

CAPTIONS = [a.caption for a in shapes.all_attributes()]
# measured on the shipped model: see the match-rate test for the numbers
MATCH_FLOOR = 0.8


@pytest.fixture(scope="module")
def pipe():
    pipe = sd_model.load_course_pipeline(device="cpu")
    pipe.set_progress_bar_config(disable=True)
    return pipe


def test_every_caption_word_is_one_token_and_unseen_words_still_tokenize(tmp_path):
    tok = sd_model.save_tokenizer(tmp_path, CAPTIONS)
    assert (tmp_path / "merges.txt").read_text(encoding="utf-8").startswith("#version: 0.2\n")
    for word in {w for c in CAPTIONS for w in c.split()}:
        assert tok.tokenize(word) == [word + "</w>"], word
    pieces = tok.tokenize("purple")
    assert len(pieces) > 1 and tok.unk_token_id not in tok.convert_tokens_to_ids(pieces)
    assert tok.decode(tok("a purple circle").input_ids, skip_special_tokens=True) == \
        "a purple circle"


def test_prompts_are_padded_to_77_like_stable_diffusion(tmp_path):
    tok = sd_model.save_tokenizer(tmp_path, CAPTIONS)
    assert tok.model_max_length == 77 and tok.pad_token == tok.eos_token == "<|endoftext|>"
    ids = sd_model.token_ids(tok, ["", CAPTIONS[0]])
    assert ids.shape == (2, 77)
    assert ids[0].tolist() == [tok.bos_token_id] + [tok.eos_token_id] * 76  # empty prompt
    n = len(CAPTIONS[0].split()) + 2                     # <bos>, one token per word, <eos>
    assert ids[1, :n].tolist() == [tok.bos_token_id, *tok.convert_tokens_to_ids(
        [w + "</w>" for w in CAPTIONS[0].split()]), tok.eos_token_id]


def test_shipped_pipeline_is_the_course_model(pipe, tmp_path):
    shipped = json.loads((runtime.data_path(sd_model.FOLDER) / "tokenizer" / "vocab.json")
                         .read_text(encoding="utf-8"))
    sd_model.save_tokenizer(tmp_path, CAPTIONS)
    assert json.loads((tmp_path / "vocab.json").read_text(encoding="utf-8")) == shipped
    assert pipe.tokenizer.model_max_length == 77 and pipe.vae_scale_factor == 4
    assert pipe.unet.config.cross_attention_dim == pipe.text_encoder.config.hidden_size
    assert pipe.vae.config.scaling_factor != 0.18215  # set from the latents' std
    assert pipe.unet.dtype == torch.float32 and pipe.safety_checker is None


def test_pipeline_generates_and_repeats_with_the_same_seed(pipe):
    def run(seed):
        return pipe(["a large red circle at the top left", "a small green square in the "
                     "center"], num_inference_steps=4, guidance_scale=5.0, output_type="pt",
                    generator=torch.Generator().manual_seed(seed)).images
    a, b, c = run(0), run(0), run(1)
    assert a.shape == (2, 3, 32, 32) and 0 <= a.min() and a.max() <= 1
    assert torch.equal(a, b) and not torch.equal(a, c)


@pytest.mark.slow
def test_generated_images_match_their_prompts(pipe):
    judge, _, _ = artefacts.load("judge")
    attrs = random.Random(0).sample(shapes.all_attributes(), 40)  # seen colour-shape pairs
    rate = sd_model.prompt_match(pipe, judge, attrs, steps=25, guidance_scale=5.0, seed=0)
    assert rate["all"] >= MATCH_FLOOR, rate


def test_missing_folder_names_the_training_command(monkeypatch, tmp_path):
    monkeypatch.setattr(runtime, "DATA_DIR", tmp_path)
    with pytest.raises(FileNotFoundError, match="python -m course_lib.train sd_course"):
        sd_model.load_course_pipeline(device="cpu")


def test_the_folder_loads_the_plain_diffusers_way_and_as_an_fp16_variant():
    """Saved as the hub saves models: float32 main weights that a bare from_pretrained loads
    and runs on a CPU, and a float16 copy (variant="fp16") with the same numbers, for GPUs."""
    from diffusers import DiffusionPipeline

    folder = runtime.DATA_DIR / "sd_course"
    pipe = DiffusionPipeline.from_pretrained(folder)
    assert pipe.unet.dtype == torch.float32
    pipe.set_progress_bar_config(disable=True)
    image = pipe("a red circle", num_inference_steps=3, output_type="pt",
                 generator=torch.Generator().manual_seed(0)).images
    assert image.shape == (1, 3, 32, 32) and torch.isfinite(image).all()
    half = DiffusionPipeline.from_pretrained(folder, variant="fp16", dtype=torch.float16)
    assert half.unet.dtype == torch.float16
    for (name, w32), w16 in zip(pipe.unet.state_dict().items(), half.unet.state_dict().values()):
        assert torch.equal(w32.half(), w16), name
    sizes = sum(f.stat().st_size for f in folder.rglob("*.safetensors")) / 2**20
    assert sizes < 30, f"data/sd_course weighs {sizes:.1f} MiB"


@pytest.mark.parametrize("prediction", ["epsilon", "v_prediction"])
@pytest.mark.parametrize("schedule", ["scaled_linear", "linear", "squaredcos_cap_v2"])
def test_training_pair_is_diffusers_add_noise_and_target_in_the_sigma_view(prediction, schedule):
    from diffusers import DDPMScheduler

    from course_lib.bridge import training_pair

    sch = DDPMScheduler(beta_schedule=schedule, prediction_type=prediction)
    g = torch.Generator().manual_seed(3)
    z, noise = torch.randn(6, 4, 8, 8, generator=g), torch.randn(6, 4, 8, 8, generator=g)
    t = torch.tensor([0, 1, 250, 500, 998, 999])
    x_t, target = training_pair(sch, z, noise, t)
    assert torch.allclose(x_t, sch.add_noise(z, noise, t), atol=2e-6)
    want = sch.get_velocity(z, noise, t) if prediction == "v_prediction" else noise
    assert torch.allclose(target, want, atol=2e-6)
    assert x_t.dtype == target.dtype == z.dtype
