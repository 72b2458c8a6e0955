"""Every model shipped in data/, behind one loader: `load("judge")`, `load("spiral")`, ...

Introduced in notebook 01 and used by every notebook after it. Each entry names its file, the
command that rebuilds it (data/README.md has times and sizes) and the module whose `build`
makes the empty model from the typed config saved with it (its `*Config` dataclass); a
missing file is one plain message naming that command. load() gives an Artefact that unpacks
as before: `model, config, losses = artefacts.load("vae")`, then `config.scale`.
Checkpoints are read with torch.load(weights_only=True): no pickled code runs.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import NamedTuple

from torch import nn

from course_lib.config import Config
from course_lib.runtime import DATA_DIR, load_model


@dataclass(frozen=True)
class Entry:
    file: str      # in data/
    command: str   # what rebuilds it
    module: str    # course_lib.<module>.build(config) makes the empty model
    config: str    # the name of that module's config dataclass


class Artefact(NamedTuple):
    """A shipped model in eval mode, its typed config and its training losses."""
    model: nn.Module
    config: Config
    losses: list[float]


def _entry(name: str, file: str, module: str, config: str, threads: str = "") -> Entry:
    return Entry(file, f"python -m course_lib.train {name}{threads}", module, config)


ARTEFACTS = {
    "spiral": _entry("spiral", "spiral_mlp.pt", "spiral", "SpiralConfig"),
    "spiral_cond": _entry("spiral_cond", "spiral_cond.pt", "guidance", "CondConfig"),
    "judge": _entry("judge", "shapes_judge.pt", "judge", "JudgeConfig"),
    "unet_pixels": _entry("unet_pixels", "unet_pixels.pt", "unet", "UNetConfig"),
    "vae": _entry("vae", "vae.pt", "vae", "VAEConfig"),
    "text2img": _entry("text2img", "text2img.pt", "latent", "TextToImageConfig"),
    "features": _entry("features", "features.pt", "features", "FeaturesConfig",
                       " --threads 1"),
    "clip": _entry("clip", "clip.pt", "clip", "ClipConfig", " --threads 1"),
    "spiral_flow": _entry("spiral_flow", "spiral_flow.pt", "flow", "FlowConfig"),
    "spiral_reflow": _entry("spiral_reflow", "spiral_reflow.pt", "flow", "FlowConfig"),
    "dit": _entry("dit", "dit_shapes.pt", "dit", "DiTConfig", " --threads 1"),
}


def load(name: str) -> Artefact:
    """(model in eval mode, its typed config, its training losses) for a shipped checkpoint.
    The Stable Diffusion-format course model is a folder: sd_model.load_course_pipeline()."""
    if name not in ARTEFACTS:
        raise KeyError(f"no shipped model {name!r}; the models are: {', '.join(ARTEFACTS)}")
    entry = ARTEFACTS[name]
    path = DATA_DIR / entry.file
    if not path.exists():
        raise FileNotFoundError(
            f"{path} is missing. It ships with the course: restore it with `git checkout -- "
            f"data/{entry.file}`, or rebuild it with `{entry.command}` (see data/README.md).")
    module = importlib.import_module(f"course_lib.{entry.module}")  # imported when asked for
    return Artefact(*load_model(path, module.build, getattr(module, entry.config)))
