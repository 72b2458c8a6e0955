"""Where the course runs: device, fast mode, training-from-scratch switch, data paths.

Introduced in notebook 00. Every notebook asks these helpers instead of hard-coding a device
or a step count, so the same cells run on a laptop CPU, in CI (COURSE_FAST=1) and on a GPU.
"""
from __future__ import annotations

import os
import platform
from pathlib import Path

import torch

REPO_ROOT = Path(__file__).resolve().parent.parent


def _data_dir() -> Path:
    """data/: $COURSE_DATA if set; else beside course_lib (a clone, or `pip install -e .`);
    else, for a course pip-installed into site-packages, the nearest data/ holding the course's
    README.md at or above the working directory (a clone's notebooks/ finds ../data)."""
    if os.environ.get("COURSE_DATA"):
        return Path(os.environ["COURSE_DATA"]).expanduser().resolve()
    if (REPO_ROOT / "data" / "README.md").is_file():
        return REPO_ROOT / "data"
    here = Path.cwd()
    for folder in (here, *here.parents):
        if (folder / "data" / "README.md").is_file():
            return folder / "data"
    return REPO_ROOT / "data"  # missing: data_path() says how to get it


DATA_DIR = _data_dir()


def _flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in {"1", "true", "yes", "on"}


def fast_mode() -> bool:
    """True when COURSE_FAST=1: tests shrink loops and sample counts but run every code path."""
    return _flag("COURSE_FAST")


def wants_training() -> bool:
    """True when COURSE_TRAIN=1: train models from scratch instead of loading data/ checkpoints."""
    return _flag("COURSE_TRAIN")


def pick(full, fast):
    """`full` normally, `fast` under COURSE_FAST=1 (step counts, sample sizes)."""
    return fast if fast_mode() else full


def get_device(prefer: str | None = None) -> torch.device:
    """The one place that picks a device: `prefer` or COURSE_DEVICE if set, else CUDA, else CPU."""
    name = prefer or os.environ.get("COURSE_DEVICE")
    if name:
        return torch.device(name)
    if torch.cuda.is_available():
        return torch.device("cuda")
    return torch.device("cpu")


def describe_device() -> str:
    """One line a learner can paste into a question: torch version, device, threads."""
    dev = get_device()
    if dev.type == "cuda":
        props = torch.cuda.get_device_properties(dev)
        where = f"GPU {props.name}, {props.total_memory / 2**30:.0f} GiB"
    else:
        cpu = platform.processor() or platform.machine()
        where = f"CPU ({cpu}), {torch.get_num_threads()} threads"
    return f"torch {torch.__version__} on {dev.type}: {where}"


def data_path(name: str) -> Path:
    """Path of a shipped artefact in data/, with a plain message when it is missing."""
    path = DATA_DIR / name
    if not path.exists():
        raise FileNotFoundError(
            f"{path} is missing. It ships with the course: restore it with "
            f"`git checkout -- data/{name}`, or rebuild it with the command in data/README.md "
            f"(a pip-installed course: set COURSE_DATA to the course's data/ folder)."
        )
    return path


def save_model(path, model: torch.nn.Module, config, losses: list[float],
               half: bool = False) -> None:
    """Weights (float16 on disk if half: half the size), the config that rebuilds the model
    (a typed config is stored as its plain dict, config.asdict()) and the loss history, in
    one file. load_model casts the weights back to float32."""
    state = {k: v.half() if half and v.is_floating_point() else v
             for k, v in model.state_dict().items()}
    config = config.asdict() if hasattr(config, "asdict") else config
    torch.save({"state_dict": state, "config": config, "losses": losses}, path)


def load_model(path, build, config_type=None) -> tuple[torch.nn.Module, object, list[float]]:
    """(model, config, losses) from save_model's file; build(config) makes the empty model.
    With config_type (a course_lib.config.Config), the saved dict comes back typed.
    Reads plain tensors only (weights_only=True): no pickled code runs."""
    blob = torch.load(path, map_location="cpu", weights_only=True)
    config = blob["config"] if config_type is None else config_type.from_dict(blob["config"])
    model = build(config)
    model.load_state_dict(blob["state_dict"])
    return model.eval(), config, blob["losses"]


def progress_bar(iterable=None, **kwargs):
    """A progress bar for the course's loops: tqdm's text bar, written to stdout. In a notebook
    it updates in place like the widget bar, and unlike the widget it is still there when the
    saved notebook is reopened (a widget bar then reads "Error displaying widget")."""
    import sys

    from tqdm.std import tqdm

    kwargs.setdefault("file", sys.stdout)
    kwargs.setdefault("ncols", 90)
    return tqdm(iterable, **kwargs)


def show_source(obj) -> None:
    """Display the source of a course_lib function or class, highlighted, in a notebook."""
    import inspect

    from IPython.display import Code, display

    display(Code(inspect.getsource(obj), language="python"))


class _NoTorchvisionNotice:
    """transformers says, once per image processor, that torchvision is missing and that it
    uses the PIL version instead. That is the course's setup on purpose (torchvision would
    pull a CUDA torch), so the notice would only teach learners to ignore warnings."""

    def filter(self, record) -> bool:
        return "requires torchvision (not installed)" not in record.getMessage()


def _quiet_known_notices() -> None:
    import logging

    logging.getLogger("transformers.utils.import_utils").addFilter(_NoTorchvisionNotice())


_quiet_known_notices()
