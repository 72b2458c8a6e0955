"""Which Stable Diffusion notebook 08 runs: real weights on a GPU, or the course's own model.

The real model is named in one place (SD_MODELS). `python -m course_lib.sd_weights prefetch`
downloads it once into a local folder (the only command in the course that uses the network);
afterwards everything loads offline. Without CUDA or without that folder, notebook 08 says so
and runs the course's small diffusers-format model from data/sd_course: the same pipeline
code, only the folder and dtype change. Notebook 08's SDXL section asks choose_xl(): real
SDXL weights when COURSE_SD_MODEL=sdxl and they are there on a GPU, else the course's own
SDXL-shaped model (data/sdxl_course), so its cells run on a CPU too; with an SDXL name the SD
1.x sections run SD 1.5 (or the course model).
"""
from __future__ import annotations

import argparse
import contextlib
import os
import sys
from pathlib import Path

import torch

from course_lib.runtime import DATA_DIR, get_device

# repo id and revision, here and nowhere else. The revision is "main", not a verified commit
# (the course is built offline); `prefetch` writes the commit it resolved to REVISION in the
# folder and prints it: put that hash here to pin a copy.
SD_MODELS = {
    "sd15": ("stable-diffusion-v1-5/stable-diffusion-v1-5", "main"),
    "sdxl": ("stabilityai/stable-diffusion-xl-base-1.0", "main"),
}
# the course's own diffusers folders: no download, chosen by name on any device
COURSE_MODELS = {"sd_course": DATA_DIR / "sd_course", "sdxl_course": DATA_DIR / "sdxl_course"}
DEFAULT = os.environ.get("COURSE_SD_MODEL", "sd15")
COURSE_MODEL = COURSE_MODELS["sd_course"]  # the fallback of the real models
XL = {"sdxl", "sdxl_course"}  # SDXL names: for choose_xl (the SDXL section) only


def local_folder(name: str = DEFAULT) -> Path:
    """Where prefetch puts a real model (COURSE_SD_DIR, else ~/course-models/NAME)."""
    root = Path(os.environ.get("COURSE_SD_DIR", Path.home() / "course-models"))
    return root / name


def choose(name: str = DEFAULT) -> tuple[Path, torch.device, torch.dtype, str]:
    """(folder, device, dtype, reason): real weights in fp16 on CUDA when both are present,
    else the course model (fp16 on CUDA, fp32 on CPU), with the reason in plain words. A course
    model's own name (COURSE_MODELS) picks it on every device. An SDXL name is for
    choose_xl: here it means SD 1.5, for the SD 1.x sections."""
    name = "sd15" if name in XL else name
    if name in COURSE_MODELS:
        device = get_device()
        dtype = torch.float16 if device.type == "cuda" else torch.float32
        return COURSE_MODELS[name], device, dtype, f"the course's own {name} on {device}"
    device, real = get_device(), local_folder(name)
    have_weights = (real / "model_index.json").exists()
    if device.type == "cuda" and have_weights:
        return real, device, torch.float16, f"real {name} weights from {real}, fp16 on {device}"
    if device.type != "cuda":
        why = "no CUDA GPU here"
    else:
        why = (f"no {name} weights in {real} (download them once with "
               f"`python -m course_lib.sd_weights prefetch {name}`)")
    dtype = torch.float16 if device.type == "cuda" else torch.float32
    return COURSE_MODEL, device, dtype, f"{why}: running the course's own model on {device}"


def choose_xl(name: str = DEFAULT) -> tuple[Path, torch.device, torch.dtype, str]:
    """choose() for notebook 08's SDXL section: real SDXL in fp16 on CUDA when COURSE_SD_MODEL
    is "sdxl" and its weights are there, else the course's SDXL-shaped model."""
    device = get_device()
    dtype = torch.float16 if device.type == "cuda" else torch.float32
    real = local_folder("sdxl")
    if name == "sdxl" and device.type == "cuda" and (real / "model_index.json").exists():
        return real, device, dtype, f"real sdxl weights from {real}, fp16 on {device}"
    why = ("" if name != "sdxl" else "no CUDA GPU here: " if device.type != "cuda" else
           f"no sdxl weights in {real}: ")
    return (COURSE_MODELS["sdxl_course"], device, dtype,
            f"{why}the course's own SDXL-shaped model (data/sdxl_course) on {device}")


@contextlib.contextmanager
def no_loading_bars():
    """Loading a course folder takes a second: no "Loading pipeline components" / "Loading
    weights" widget bars from diffusers and transformers (a saved notebook reopened shows
    each as "Error displaying widget")."""
    from diffusers.utils import logging as diffusers_logging
    from transformers.utils import logging as transformers_logging

    was = [m.is_progress_bar_enabled() for m in (diffusers_logging, transformers_logging)]
    for m in (diffusers_logging, transformers_logging):
        m.disable_progress_bar()
    try:
        yield
    finally:
        for m, on in zip((diffusers_logging, transformers_logging), was):
            if on:
                m.enable_progress_bar()


def load_pipeline(folder: Path, device: torch.device, dtype: torch.dtype, safety: bool = False):
    """StableDiffusion(XL)Pipeline.from_pretrained(folder) offline. The safety checker is kept
    only if asked for and present (the course model has none: shapes need no filter)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from diffusers import DiffusionPipeline

    if not (Path(folder) / "model_index.json").exists():
        name = Path(folder).name if Path(folder).name in COURSE_MODELS else "sd_course"
        raise FileNotFoundError(f"{folder} holds no diffusers pipeline. The course model is "
                                f"made by `python -m course_lib.train {name}`.")
    extra = {} if safety else {"safety_checker": None, "requires_safety_checker": False}
    if "xl" in Path(folder).name:
        extra = {}  # SDXL pipelines have no safety checker component
    fp16 = any(Path(folder).rglob("*.fp16.safetensors"))
    main = any(p for p in Path(folder).rglob("*.safetensors") if ".fp16." not in p.name)
    if fp16 and (dtype == torch.float16 or not main):
        extra["variant"] = "fp16"  # the GPU copy; prefetch downloads only this one
    with no_loading_bars():
        pipe = DiffusionPipeline.from_pretrained(folder, dtype=dtype, local_files_only=True,
                                                 **extra)
    pipe.set_progress_bar_config(disable=True)
    return pipe.to(device)


def prefetch(name: str = DEFAULT) -> Path:
    """Download the pinned model into local_folder(name) (fp16 weights where offered)."""
    from huggingface_hub import snapshot_download

    repo_id, revision = SD_MODELS[name]
    folder = local_folder(name)
    snapshot_download(repo_id, revision=revision, local_dir=folder,
                      allow_patterns=["*.json", "*.txt", "*.fp16.safetensors", "*.model"])
    from huggingface_hub import HfApi

    sha = HfApi().model_info(repo_id, revision=revision).sha
    (folder / "REVISION").write_text(f"{repo_id} {sha}\n")
    print(f"{repo_id} at commit {sha} is in {folder}; pin it in SD_MODELS to reproduce this.")
    return folder


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Fetch real Stable Diffusion weights once.")
    parser.add_argument("command", choices=["prefetch", "where"])
    parser.add_argument("name", nargs="?", default=DEFAULT,
                        choices=[*SD_MODELS, *COURSE_MODELS])
    args = parser.parse_args(argv)
    if args.command == "where":
        print(choose(args.name)[3])
        return 0
    if args.name in COURSE_MODELS:
        parser.error(f"{args.name} ships in data/: there is nothing to download")
    prefetch(args.name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
