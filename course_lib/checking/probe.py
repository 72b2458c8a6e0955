"""Probing: call a function on seeded cases and keep what came out as plain data.

Probing runs the learner's code (in the notebook, or in the grader's sandboxed child); judging
(judge.py) only ever sees the plain outcomes, so the grader can judge in its own process.
"""
from __future__ import annotations

import copy
import inspect
import os
import sys
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch


@dataclass
class Case:
    """One call of the learner's function with fixed, seeded inputs."""
    args: tuple
    kwargs: dict = field(default_factory=dict)


@dataclass
class Outcome:
    """What one call produced, as plain data (tensors, numbers, strings) that can cross a
    process boundary with torch.save / torch.load(weights_only=True)."""
    value: Any = None
    type_name: str = "NoneType"
    error: str | None = None
    not_implemented: bool = False
    mutated: bool = False
    changed: list = field(default_factory=list)  # labels of the arguments the call changed
    requires_grad: bool = False
    aliased: bool = False       # the result shares memory with an input tensor
    rng_touched: bool = False   # the call drew from (or reseeded) torch's global RNG
    proxies: list = field(default_factory=list)  # watched functions the call reached
    device: str = ""            # the result's device type (checking/device.py)

    def to_plain(self) -> dict:
        return dict(self.__dict__)

    @classmethod
    def from_plain(cls, d: dict) -> Outcome:
        return cls(**{k: d[k] for k in cls.__dataclass_fields__ if k in d})



def _plain(value: Any) -> Any:
    """Detach tensors to CPU, turn numpy into tensors; anything else exotic becomes its repr."""
    if isinstance(value, torch.Tensor):
        if value.is_meta:  # shape and dtype only (checking/device.py)
            return torch.zeros(value.shape, dtype=value.dtype)
        return value.detach().cpu().clone()
    if isinstance(value, np.ndarray):
        return torch.from_numpy(np.array(value))
    if isinstance(value, (tuple, list)):
        return [_plain(v) for v in value]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, np.generic):
        return value.item()
    return repr(value)[:200]


def device_of(value: Any) -> str:
    """The device type of a result: of the tensor, or of the first tensor in a sequence."""
    if isinstance(value, torch.Tensor):
        return value.device.type
    if isinstance(value, (tuple, list)):
        return next((d for d in map(device_of, value) if d), "")
    return ""


def _tensors(obj: Any) -> list[torch.Tensor]:
    if isinstance(obj, torch.Tensor):
        return [obj]
    if isinstance(obj, torch.nn.Module):  # its parameters and buffers are inputs too
        return list(obj.state_dict(keep_vars=True).values())
    if isinstance(obj, (tuple, list)):
        return [t for o in obj for t in _tensors(o)]
    if isinstance(obj, dict):
        return [t for o in obj.values() for t in _tensors(o)]
    if isinstance(getattr(obj, "components", None), dict):  # a diffusers pipeline
        return _tensors(list(obj.components.values()))
    if hasattr(obj, "config") and hasattr(obj, "set_timesteps"):  # a diffusers scheduler
        return [v for v in vars(obj).values() if isinstance(v, torch.Tensor)]
    return []


def _settings(obj: Any) -> list:
    """The plain settings of an argument that a call could change besides its tensors: a
    module's train/eval mode and dtype, a scheduler's step counters and stored outputs."""
    if isinstance(obj, torch.nn.Module):
        return [m.training for m in obj.modules()]
    if isinstance(obj, (tuple, list)):
        return [_settings(o) for o in obj]
    if isinstance(getattr(obj, "components", None), dict):
        return [_settings(v) for v in obj.components.values()]
    if hasattr(obj, "config") and hasattr(obj, "set_timesteps"):
        return [(k, v if not isinstance(v, list) else sum(o is not None for o in v))
                for k, v in sorted(vars(obj).items())
                if v is None or isinstance(v, (bool, int, float, str, list))]
    return []


def _parts(args: list) -> list[tuple[str, Any]]:
    """The arguments as the mutation check sees them, each with a label: a pipeline counts
    as its components (a loop may set its scheduler's timesteps and leave its VAE alone)."""
    parts = []
    for i, arg in enumerate(args, 1):
        if isinstance(getattr(arg, "components", None), dict):
            parts += [(f"argument {i}'s {k}", v) for k, v in arg.components.items()]
        else:
            parts.append((f"argument {i}", arg))
    return parts


def _state(arg: Any) -> tuple[list[torch.Tensor], list]:
    """A snapshot of one argument: copies of its tensors, and its settings."""
    return [t.detach().clone() for t in _tensors(arg)], _settings(arg)


def _changed(arg: Any, before: tuple[list[torch.Tensor], list]) -> bool:
    tensors, settings = _tensors(arg), _settings(arg)
    return (len(tensors) != len(before[0]) or settings != before[1]
            or any(t.shape != b.shape or t.dtype != b.dtype or not torch.equal(t.detach(), b)
                   for t, b in zip(tensors, before[0])))


_STDLIB = os.path.dirname(os.__file__)


def _where(exc: BaseException) -> str:
    """' (at line N: code)' for the innermost frame of the learner's own code (not the
    standard library, installed packages or course_lib)."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__)[1:]
              if "site-packages" not in f.filename and "course_lib" not in f.filename
              and not f.filename.startswith(_STDLIB)]
    if not frames:
        return ""
    f = frames[-1]
    return f" (at line {f.lineno}: {f.line.strip()})" if f.line else f" (at line {f.lineno})"


def _shares_memory(value: Any, inputs: list[torch.Tensor]) -> bool:
    ptrs = {t.untyped_storage().data_ptr() for t in inputs if t.numel()}
    return any(v.numel() and v.untyped_storage().data_ptr() in ptrs for v in _tensors(value))


class _Tripwire:
    """Notes which of the watched functions a call reaches (the function objects themselves,
    found through sys.setprofile, whatever name or module they are reached by)."""

    def __init__(self, watch: dict[str, Callable]):
        self.codes, self.builtins, self.hits = {}, {}, []
        for name, f in watch.items():
            f = inspect.unwrap(f)  # torch.no_grad() and friends wrap the real function
            code = getattr(f, "__code__", None)
            if code is not None:
                self.codes[code] = name
            else:
                self.builtins[id(f)] = name

    def __call__(self, frame, event, arg):
        if event == "call":
            name = self.codes.get(frame.f_code)
        elif event == "c_call":
            name = self.builtins.get(id(arg))
        else:
            return
        if name is not None and name not in self.hits:
            self.hits.append(name)

    def __enter__(self):
        self._old = sys.getprofile()
        sys.setprofile(self)
        return self

    def __exit__(self, *exc):
        sys.setprofile(self._old)


def run_case(fn: Callable, case: Case, watch: dict[str, Callable] | None = None) -> Outcome:
    """Call fn on one case, catching everything; notes a stub, which arguments it changed
    (tensors, module parameters, buffers and modes, pipelines, scheduler state), a result
    that is an input's memory and any use of the global RNG. The caller's global RNG state is
    restored afterwards."""
    args = list(case.args) + [case.kwargs[k] for k in sorted(case.kwargs)]
    inputs, parts = _tensors(args), _parts(args)
    on_meta = any(t.is_meta for t in inputs)  # values unknown: device and shape only
    parts = [] if on_meta else parts
    before = [_state(part) for _, part in parts]
    rng = torch.get_rng_state()
    me = inspect.unwrap(fn)  # the function under test may be the reference itself (tests)
    wire = _Tripwire({k: f for k, f in (watch or {}).items() if inspect.unwrap(f) is not me})
    try:
        with wire:
            value = fn(*case.args, **case.kwargs)
    except NotImplementedError as exc:  # the stub; on meta tensors, an op without meta
        if on_meta:
            return Outcome(error=f"NotImplementedError: {exc}"[:600], type_name="error")
        return Outcome(not_implemented=True, type_name="NotImplementedError")
    except Exception as exc:  # the learner's bug, reported in words by judge()
        return Outcome(error=f"{type(exc).__name__}: {exc}{_where(exc)}"[:600],
                       type_name=type(exc).__name__)
    finally:
        rng_touched = not torch.equal(torch.get_rng_state(), rng)
        torch.set_rng_state(rng)
    changed = [label for (label, part), b in zip(parts, before) if _changed(part, b)]
    grad = isinstance(value, torch.Tensor) and value.requires_grad
    return Outcome(value=_plain(value), type_name=type(value).__name__, mutated=bool(changed),
                   changed=changed, requires_grad=grad,
                   aliased=not on_meta and _shares_memory(value, inputs),
                   rng_touched=rng_touched, proxies=wire.hits, device=device_of(value))


FLOAT64 = " (float64 copy)"  # the name suffix of the case derived by float64_copy


def _as_float64(obj: Any) -> tuple[Any, bool]:
    if isinstance(obj, torch.Tensor) and obj.dtype == torch.float32:
        return obj.detach().double().requires_grad_(obj.requires_grad), True
    if isinstance(obj, torch.nn.Module) and any(
            t.dtype == torch.float32 for t in obj.state_dict().values()):
        return obj.double(), True
    if isinstance(obj, (tuple, list)):
        pairs = [_as_float64(o) for o in obj]
        return type(obj)(o for o, _ in pairs), any(c for _, c in pairs)
    return obj, False


def with_float64_copy(cases: dict[str, Case]) -> dict[str, Case]:
    """The cases plus the first one with every float32 tensor and module made float64: the
    generic "follows the inputs' dtype" line (generic.py) compares answer and reference there."""
    name, case = next(iter(cases.items()))
    case = copy.deepcopy(case)
    args, changed = _as_float64(case.args)
    kwargs = {k: _as_float64(v)[0] for k, v in case.kwargs.items()}
    changed = changed or any(_as_float64(v)[1] for v in case.kwargs.values())
    return {**cases, name + FLOAT64: Case(args, kwargs)} if changed else cases


def run_cases(fn: Callable, cases: dict[str, Case],
              watch: dict[str, Callable] | None = None) -> dict[str, Outcome]:
    """Probe fn on every case. Each case gets its own deep copy so no call sees another's."""
    return {name: run_case(fn, copy.deepcopy(case), watch) for name, case in cases.items()}
