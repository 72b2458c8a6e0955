"""Real-size SD 1.5 / SDXL with random weights (course_lib.bench.realsize) and the GPU device
check (course_lib.bench.device), on a CPU: tiny-scale hand loops equal the pipelines, the
full-size configs have the published parameter counts (built on the meta device, no memory),
and a failing device-check part becomes a table row."""
import pytest
import torch

from course_lib.bench import device, realsize

# millions of parameters of the published models
PUBLISHED = {"sd15": {"unet": 859.52, "vae": 83.65, "text_encoder": 123.06},
             "sdxl": {"unet": 2567.46, "vae": 83.65, "text_encoder": 123.06,
                      "text_encoder_2": 694.66}}
# Measured: 0.0 for both models (bit-identical on one CPU thread, float32): the hand loop
# calls the very same modules in the same order. The tolerance allows for kernels that
# reorder sums between calls; a real mistake (a wrong embedding, no init_noise_sigma) is > 1e-2.
TOL = 1e-6


@pytest.fixture(scope="module", params=["sd15", "sdxl"])
def tiny(request):
    return request.param, realsize.build(request.param, "tiny", torch.float32, "cpu", seed=0)


def test_tiny_hand_loop_equals_the_pipeline(tiny, capfd):
    name, pipe = tiny
    capfd.readouterr()
    row = realsize.compare(name, "tiny", torch.float32, "cpu", steps=3, guidance=6.0, pipe=pipe)
    assert row["max_diff"] < TOL and row["finite"]
    assert row["resolution"] == "64x64" and row["attention"] == "AttnProcessor2_0"
    assert row["s_per_step"] > 0 and row["peak_GiB"] > 0 and row["decode_s"] > 0
    assert capfd.readouterr().err == ""  # no warnings from diffusers or transformers


@pytest.mark.parametrize("tiny", ["sdxl"], indirect=True)
def test_sdxl_uses_zeros_for_the_empty_negative_prompt(tiny):
    _, pipe = tiny
    ours = realsize.sdxl_latents(pipe, realsize.PROMPTS, steps=2,
                                 generator=torch.Generator().manual_seed(1))
    encoded_empty = pipe(realsize.PROMPTS, negative_prompt="", num_inference_steps=2,
                         generator=torch.Generator().manual_seed(1), output_type="latent").images
    assert (ours - encoded_empty).abs().max() > 1e-3  # "" encoded is not what SDXL does


def test_full_scale_parameter_counts_match_the_published_models():
    for name, want in PUBLISHED.items():
        with torch.device("meta"):                    # shapes only: no memory, no init time
            parts = realsize.components(name, "full")
        got = realsize.param_counts(parts)
        assert set(got) == set(want)
        for part, millions in want.items():
            assert abs(got[part] - millions) / millions < 0.01, (name, part, got[part])


def test_tiny_scale_keeps_the_block_structure():
    for name in ("sd15", "sdxl"):
        full, tiny = realsize.configs(name, "full"), realsize.configs(name, "tiny")
        for part in ("unet", "vae"):
            for key in ("down_block_types", "up_block_types"):
                assert full[part][key] == tiny[part][key]
            assert len(full[part]["block_out_channels"]) == len(tiny[part]["block_out_channels"])


def test_realsize_command_prints_one_table(capsys):
    assert realsize.main(["--model", "sd15", "--scale", "tiny", "--device", "cpu",
                          "--dtype", "float32", "--steps", "1"]) == 0
    out = capsys.readouterr().out
    assert "max_diff" in out and "AttnProcessor2_0" in out and "SDPA" in out


def test_device_check_turns_a_failing_part_into_a_row():
    def broken():
        raise RuntimeError("CUDA error: no kernel image\nsecond line")

    rows = [device.run_part("fine", lambda: {"max_diff": 0.5, "detail": "ran"}),
            device.run_part("broken", broken)]
    assert rows[0]["status"] == "ok" and rows[1]["status"] == "FAILED"
    assert rows[1]["detail"] == "RuntimeError: CUDA error: no kernel image"
    text = device.table(rows)
    assert "FAILED" in text and "fine" in text and "second line" not in text
    assert len(text.splitlines()) == 4  # header, rule, one line per part


def test_device_check_reads_pytest_summaries():
    ok = device.pytest_summary("..\n2 passed, 10 deselected in 9.1s\n", 0)
    assert ok["status"] == "ok" and ok["passed"] == 2 and ok["failed"] == 0
    no_gpu = device.pytest_summary("2 skipped, 10 deselected in 5.0s", 0)
    assert no_gpu["status"] == "FAILED"  # skipped: the tests saw no GPU
    bad = device.pytest_summary("1 failed, 1 passed, 1 error in 3.0s", 1)
    assert bad["status"] == "FAILED" and bad["failed"] == 2


def test_device_check_parts_run_on_a_cpu():
    # parts b and c with their device and dtype swapped for the CPU's: same code as on CUDA
    course = device.run_part("b", lambda: device.course_model(steps=3, device="cpu",
                                                              dtype=torch.float32))
    assert course["status"] == "ok" and course["max_diff"] < 1e-5, course
    real = device.run_part("c", lambda: device.real_size("sdxl", 1, scale="tiny", device="cpu",
                                                         dtype=torch.float32))
    assert real["status"] == "ok" and real["max_diff"] < TOL and "finite True" in real["detail"]
