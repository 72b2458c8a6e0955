"""Every model shipped in data/, behind one loader: `load("judge")`, `load("spiral")`, ...

Introduced in notebook 01 and used by every notebook after it. Each entry names its file, the
command that rebuilds it (data/README.md has times and sizes) and how to build the empty model
from the config saved with it; a missing file is one plain message naming that command.
Checkpoints are read with torch.load(weights_only=True): no pickled code runs.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from torch import nn

from course_lib.runtime import DATA_DIR, load_model


@dataclass(frozen=True)
class Artefact:
    file: str                             # in data/
    command: str                          # what rebuilds it
    build: Callable[[dict], nn.Module]    # the empty model, from the config saved with it


def _spiral(c: dict) -> nn.Module:
    from course_lib.spiral import SpiralDenoiser

    return SpiralDenoiser(c["hidden"], c["depth"], c["emb_dim"], c["sigma_min"], c["sigma_max"])


def _spiral_cond(c: dict) -> nn.Module:
    from course_lib.guidance import ConditionalDenoiser

    return ConditionalDenoiser(c["hidden"], c["depth"], c["emb_dim"], c["sigma_min"],
                               c["sigma_max"])


def _judge(c: dict) -> nn.Module:
    from course_lib.judge import Judge

    return Judge()


def _unet(c: dict) -> nn.Module:
    from course_lib import unet

    return unet.build(c)


def _vae(c: dict) -> nn.Module:
    from course_lib import vae

    return vae.build(c)


def _text2img(c: dict) -> nn.Module:
    from course_lib import latent

    return latent.build(c)


def _features(c: dict) -> nn.Module:
    from course_lib import features

    return features.build(c)


def _clip(c: dict) -> nn.Module:
    from course_lib import clip

    return clip.build(c)


ARTEFACTS = {
    "spiral": Artefact("spiral_mlp.pt", "python -m course_lib.train spiral", _spiral),
    "spiral_cond": Artefact("spiral_cond.pt", "python -m course_lib.train spiral_cond",
                            _spiral_cond),
    "judge": Artefact("shapes_judge.pt", "python -m course_lib.train judge", _judge),
    "unet_pixels": Artefact("unet_pixels.pt", "python -m course_lib.train unet_pixels",
                            _unet),
    "vae": Artefact("vae.pt", "python -m course_lib.train vae", _vae),
    "text2img": Artefact("text2img.pt", "python -m course_lib.train text2img",
                         _text2img),
    "features": Artefact("features.pt", "python -m course_lib.train features --threads 1",
                         _features),
    "clip": Artefact("clip.pt", "python -m course_lib.train clip --threads 1",
                     _clip),
}


def load(name: str) -> tuple[nn.Module, dict, list[float]]:
    """(model in eval mode, its config, its training losses) for a shipped checkpoint.
    The Stable Diffusion-format course model is a folder: sd_model.load_course_pipeline()."""
    if name not in ARTEFACTS:
        raise KeyError(f"no shipped model {name!r}; the models are: {', '.join(ARTEFACTS)}")
    art = ARTEFACTS[name]
    path = DATA_DIR / art.file
    if not path.exists():
        raise FileNotFoundError(
            f"{path} is missing. It ships with the course: restore it with `git checkout -- "
            f"data/{art.file}`, or rebuild it with `{art.command}` (see data/README.md).")
    return load_model(path, art.build)
