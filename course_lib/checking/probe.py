"""Probing: call a function on seeded cases and keep what came out as plain data.

Probing runs the learner's code (in the notebook, or in the grader's sandboxed child); judging
(judge.py) only ever sees the plain outcomes, so the grader can judge in its own process.
"""
from __future__ import annotations

import copy
import os
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
    requires_grad: bool = False

    def to_plain(self) -> dict:
        return dict(self.__dict__)

    @classmethod
    def from_plain(cls, d: dict) -> Outcome:
        return cls(**{k: d[k] for k in cls.__dataclass_fields__ if k in d})



def _plain(value: Any) -> Any:
    """Detach tensors to CPU, turn numpy into tensors; anything else exotic becomes its repr."""
    if isinstance(value, torch.Tensor):
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


def _tensors(obj: Any) -> list[torch.Tensor]:
    if isinstance(obj, torch.Tensor):
        return [obj]
    if isinstance(obj, (tuple, list)):
        return [t for o in obj for t in _tensors(o)]
    if isinstance(obj, dict):
        return [t for o in obj.values() for t in _tensors(o)]
    return []


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


def run_case(fn: Callable, case: Case) -> Outcome:
    """Call fn on one case, catching everything; notes a stub and any change to the inputs."""
    inputs = _tensors(case.args) + _tensors(case.kwargs)
    before = [t.detach().clone() for t in inputs]
    try:
        value = fn(*case.args, **case.kwargs)
    except NotImplementedError:
        return Outcome(not_implemented=True, type_name="NotImplementedError")
    except Exception as exc:  # the learner's bug, reported in words by judge()
        return Outcome(error=f"{type(exc).__name__}: {exc}{_where(exc)}"[:600],
                       type_name=type(exc).__name__)
    mutated = any(
        t.shape != b.shape or not torch.equal(t.detach(), b) for t, b in zip(inputs, before)
    )
    grad = isinstance(value, torch.Tensor) and value.requires_grad
    return Outcome(value=_plain(value), type_name=type(value).__name__, mutated=mutated,
                   requires_grad=grad)


def run_cases(fn: Callable, cases: dict[str, Case]) -> dict[str, Outcome]:
    """Probe fn on every case. Each case gets its own deep copy so no call sees another's."""
    return {name: run_case(fn, copy.deepcopy(case)) for name, case in cases.items()}
