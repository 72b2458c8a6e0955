"""The generic "stays on the inputs' device" line, without a GPU.

PyTorch's meta device behaves like a GPU where it matters here: a tensor on it cannot be
mixed with a CPU tensor (other than a 0-dim one), and results of operations on it stay on it.
So the first case is probed once more with every tensor and module moved to "meta". Where the
reference runs there and returns a meta tensor, the answer must too: a constant built with
torch.tensor(...) or torch.zeros(n) without device=, or a trip through numpy, fails here as
it would on a GPU. (Meta tensors carry shapes and dtypes, no values: only the device and the
shape are judged.)
"""
from __future__ import annotations

import copy
from typing import Any

import torch

from course_lib.checking.generic import knock_on
from course_lib.checking.line import Line
from course_lib.checking.probe import Case, Outcome

ELSEWHERE = " (on another device)"  # the name suffix of the derived case
# what a meta tensor cannot do and a GPU tensor can (.item(), .cpu(), .tolist()): an answer
# stopped by one of these is not judged here
_META_ONLY = ("cannot be called on meta tensors", "Cannot copy out of meta tensor")


def _to_meta(obj: Any) -> tuple[Any, bool]:
    if isinstance(obj, torch.Tensor) and obj.device.type == "cpu":
        return obj.detach().to("meta").requires_grad_(obj.requires_grad), True
    if isinstance(obj, torch.nn.Module) and any(True for _ in obj.state_dict()):
        return obj.to("meta"), True
    if isinstance(obj, (tuple, list)):
        pairs = [_to_meta(o) for o in obj]
        return type(obj)(o for o, _ in pairs), any(moved for _, moved in pairs)
    return obj, False


def with_device_copy(cases: dict[str, Case]) -> dict[str, Case]:
    """The cases plus the first one with its tensors and modules on the meta device."""
    name, case = next(iter(cases.items()))
    case = copy.deepcopy(case)
    args, moved = _to_meta(case.args)
    kwargs = {}
    for k, v in case.kwargs.items():
        kwargs[k], m = _to_meta(v)
        moved = moved or m
    return {**cases, name + ELSEWHERE: Case(args, kwargs)} if moved else cases


def device_line(outs: dict[str, Outcome], refs: dict[str, Outcome], usable: dict):
    """The line, where the reference stays on the meta device ([] elsewhere); `usable`: the
    cases that ran and were well formed."""
    name = next(iter(outs), None)
    ref = refs.get(name)
    if name is None or ref is None or ref.error or ref.device != "meta":
        return []
    out, detail, base = outs[name], "", name[: -len(ELSEWHERE)]
    if base not in usable and (out.error or getattr(out.value, "shape", None) != ref.value.shape):
        return [knock_on("stays on the inputs' device (a GPU, say)", base)]
    if out.error and any(words in out.error for words in _META_ONLY):
        return [Line(True, "stays on the inputs' device (a GPU, say)",
                     "not checked: the answer reads values back to Python (.item(), .cpu())")]
    if out.error:
        detail = f"inputs on another device: {out.error}"
    elif out.device != "meta":
        detail = f"inputs on another device gave a result on {out.device or 'no device'}"
    elif getattr(out.value, "shape", None) != getattr(ref.value, "shape", None):
        detail = f"inputs on another device gave shape {tuple(out.value.shape)}"
    return [Line(not detail, "stays on the inputs' device (a GPU, say)", detail,
                 "on a GPU every tensor you make must live where the inputs live: a tensor "
                 "made without saying where lands on the CPU and cannot be mixed with them",
                 "make new tensors from the inputs (torch.zeros_like, x.new_tensor, "
                 "device=x.device); no numpy, no .cpu()")]
