"""Judging: turn plain outcomes into one report line per property, with hints that teach.

An Exercise bundles a reference, its probe cases and its properties; `judge` compares what
the learner's function produced with what the reference produced on the same cases.
"""
from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch

from course_lib.checking.probe import FLOAT64, Case, Outcome, with_float64_copy

PASS, FAIL = "✓", "✗"


@dataclass
class Prop:
    """A property of the outputs: `test(outs, refs) -> (ok, detail)`; `hint` is shown on failure."""
    name: str
    test: Callable[[dict[str, Outcome], dict[str, Outcome]], tuple[bool, str]]
    hint: str


@dataclass
class Exercise:
    """An exercise: where it lives, what it is worth, its reference and how to probe it."""
    id: str
    notebook: str
    points: int
    reference: Callable
    cases: Callable[[], dict[str, Case]]
    props: list[Prop]
    summary: str = ""
    # library functions that would do this exercise's work for the learner (a function that
    # returns them, so that importing the registry loads no diffusers)
    proxies: Callable[[], tuple] = tuple
    bugs: dict[str, Callable] = field(default_factory=dict)          # wrong answers: must fail
    alternatives: dict[str, Callable] = field(default_factory=dict)  # right answers: must pass
    file: str | None = None  # the exercise's file, which holds its solution cell
    # a loop graded by what it produces: harness(fn) calls fn and returns plain data (e.g.
    # every state a sampling loop yields), and is what gets probed, for answer and reference
    harness: Callable[[Callable], Callable] | None = None
    float64: bool = True  # also probe a float64 copy of the first case (False: a training run)

    def probed(self, fn: Callable) -> Callable:
        """What is probed for fn: fn itself, or the harness around it."""
        if self.harness is None:
            return fn
        return functools.wraps(fn)(self.harness(fn))  # __wrapped__: the tripwire sees fn

    def probe_cases(self) -> dict[str, Case]:
        """The cases answers are probed on: the file's own, and a float64 copy of the first."""
        return with_float64_copy(self.cases()) if self.float64 else self.cases()

    def watch(self) -> dict[str, Callable]:
        """What an answer must not hand the work to: the course's own copy of this very
        answer, and the library functions that compute the same thing."""
        names = {f"course_lib's {self.id}": self.reference}
        for f in self.proxies():
            names[f"{getattr(f, '__module__', None) or 'torch'}.{f.__qualname__}"] = f
        return names


class Props(list):
    """An exercise file's properties, in the order it declares them: `@PROPS(name, hint)` above
    a test function, or `PROPS(name, hint, close("case"))` for a plain comparison."""

    def __call__(self, name: str, hint: str, test: Callable | None = None):
        def add(fn: Callable) -> Callable:
            self.append(Prop(name, fn, hint))
            return fn
        return add if test is None else add(test)


def exercise(module: dict, points: int, summary: str, proxies: Callable[[], tuple] = tuple,
             harness: Callable[[Callable], Callable] | None = None, float64: bool = True
             ) -> Exercise:
    """The Exercise an exercise file declares, from that file's `globals()`: its id is the file's
    name, its notebook the package's NOTEBOOK, its reference the function named like the file,
    and its `cases`, `PROPS`, `BUGS` and `ALTERNATIVES` are the file's own."""
    package, _, name = module["__name__"].rpartition(".")
    return Exercise(
        id=name, notebook=sys.modules[package].NOTEBOOK, points=points, reference=module[name],
        cases=module["cases"], props=module["PROPS"], summary=summary, proxies=proxies,
        bugs=module.get("BUGS", {}), alternatives=module.get("ALTERNATIVES", {}),
        file=module["__file__"], harness=harness, float64=float64)


@dataclass
class Line:
    ok: bool
    name: str
    detail: str = ""
    hint: str = ""

    def render(self) -> str:
        text = f"  {PASS if self.ok else FAIL} {self.name}"
        if self.detail:
            text += f": {self.detail}"
        if not self.ok and self.hint and not self.detail.startswith("not checked"):
            text += f"\n      hint: {self.hint}"
        return text


@dataclass
class Report:
    exercise: Exercise
    lines: list[Line]
    not_attempted: bool = False
    notes: list[str] = field(default_factory=list)  # said, but no point depends on them

    @property
    def passed(self) -> bool:
        return not self.not_attempted and all(line.ok for line in self.lines)

    @property
    def score(self) -> int:
        return self.exercise.points if self.passed else 0

    def failures(self) -> list[str]:
        if self.not_attempted:
            return ["not attempted yet"]
        return [f"{line.name}: {line.detail}".rstrip(": ") for line in self.lines if not line.ok]

    def render(self) -> str:
        ex = self.exercise
        if self.not_attempted:
            return (f"{ex.id}: not attempted yet (0/{ex.points} points). Replace "
                    "`raise NotImplementedError()` with your code, run that cell, then this one.")
        verdict = "passed" if self.passed else "not yet"
        head = f"{ex.id}: {verdict} ({self.score}/{ex.points} points)"
        notes = [f"  note: {note}" for note in self.notes]
        return "\n".join([head] + [line.render() for line in self.lines] + notes)


def describe(value: Any) -> str:
    """Short words for a value: 'tensor (8, 2) float32', 'float', 'None'."""
    if isinstance(value, torch.Tensor):
        return f"tensor {tuple(value.shape)} {str(value.dtype).replace('torch.', '')}"
    if isinstance(value, list):
        return f"a sequence of {len(value)}"
    return "None" if value is None else type(value).__name__


def form_problem(out: Outcome, ref: Outcome) -> str | None:
    """Why `out` is not shaped like `ref` (None when it is): type, shape, dtype, NaN."""
    got, want = out.value, ref.value
    if got is None:
        return "returned None: did you forget `return`?"
    if isinstance(want, torch.Tensor):
        if not isinstance(got, torch.Tensor):
            extra = " (.item() turns a tensor into a float)" if out.type_name == "float" else ""
            return f"expected a torch.Tensor, got {out.type_name}{extra}"
        if out.type_name == "ndarray":
            return "expected a torch.Tensor, got a numpy array: use torch functions"
        if got.shape != want.shape:
            return f"expected shape {tuple(want.shape)}, got {tuple(got.shape)}"
        if got.dtype != want.dtype:
            why = ("torch.tensor(numpy_array) and math with float64 tensors give float64"
                   if got.dtype == torch.float64 else
                   "build results and constants in the inputs' dtype")
            return f"expected dtype {want.dtype}, got {got.dtype} ({why})"
        if got.is_floating_point() and not torch.isfinite(got).all():
            return "contains NaN or inf"
    return None


class _Unusable(KeyError):
    pass


class _Usable(dict):
    """Outcomes a property may read; reading a case that errored or is malformed skips it."""

    def __missing__(self, name):
        raise _Unusable(name)


def judge(ex: Exercise, outs: dict[str, Outcome], refs: dict[str, Outcome],
          allow_proxies: bool = False) -> Report:
    """Turn outcomes into report lines: runs, well-formed, inputs untouched, the generic
    properties, then ex.props. allow_proxies (the class grader's --allow-library-calls) makes
    an answer that hands its work to the reference or a library a note instead of a failure."""
    if any(o.not_implemented for o in outs.values()):
        return Report(ex, [], not_attempted=True)
    outs = dict(outs)
    f64 = {k: outs.pop(k) for k in [k for k in outs if k.endswith(FLOAT64)]}
    lines = []
    errors = {name: o.error for name, o in outs.items() if o.error}
    forms = {name: p for name, o in outs.items()
             if not o.error and (p := form_problem(o, refs[name]))}
    first_error = next(iter(errors.items()), None)
    lines.append(Line(not errors, f"runs on all {len(outs)} probe inputs",
                      f"case '{first_error[0]}': {first_error[1]}" if first_error else "",
                      "the error names the failing line; print the shapes of the tensors it "
                      "combines"))
    example = describe(next(iter(refs.values())).value)
    first_form = next(iter(forms.items()), None)
    lines.append(Line(not forms, f"returns the right type, shape and dtype (e.g. {example})",
                      f"case '{first_form[0]}': {first_form[1]}" if first_form else "",
                      "compare with the docstring: shapes and dtype of the result"))
    mutated = [name for name, o in outs.items() if o.mutated and not refs[name].mutated]
    lines.append(Line(not mutated, "leaves its inputs unchanged",
                      f"changed an input in case '{mutated[0]}'" if mutated else "",
                      "use out-of-place operations (x = x + y), not x += y or x.add_(y)"))
    usable = _Usable({k: v for k, v in outs.items() if k not in errors and k not in forms})
    lines += generic_lines(usable, refs)
    lines += dtype_line(f64, refs, usable)
    called = sorted({name for o in outs.values() for name in (o.proxies or [])})
    proxy_note = (f"calls {', '.join(called)}, which computes what this exercise asks for"
                  if called else "")
    if not allow_proxies or not called:
        lines.append(Line(not called, "does the work itself", proxy_note,
                          "write it from the equations above; calling your own earlier "
                          "answers is welcome, calling a finished version of this one is not"))
    for prop in ex.props:
        try:
            ok, detail = prop.test(usable, refs)
        except _Unusable as skip:
            ok, detail = False, f"not checked: case '{skip.args[0]}' failed above"
        except Exception as exc:  # a value the property could not even compare
            ok, detail = False, f"could not compare ({type(exc).__name__}: {exc})"
        lines.append(Line(bool(ok), prop.name, detail, prop.hint))
    return Report(ex, lines, notes=[proxy_note] if proxy_note and allow_proxies else [])


GENERIC = [  # (what the line says, the Outcome flag that breaks it, the hint)
    ("returns a new tensor, not one of its inputs", "aliased",
     "build the result with out-of-place operations: returning an input, or a view of one "
     "(x.view(...), x[...], x.reshape(...) often), ties the result to the caller's tensor"),
    ("leaves torch's global random state alone", "rng_touched",
     "draw randomness from the generator you are given (generator=...); torch.randn or "
     "torch.rand without one, or torch.manual_seed, use or reset the global RNG"),
]


def _gap(out: Outcome | None, ref: Outcome | None) -> float:
    """max |out - ref| relative to max(1, |ref|), or inf where they cannot be compared."""
    if out is None or ref is None or not isinstance(out.value, torch.Tensor) or not \
            isinstance(ref.value, torch.Tensor) or out.value.shape != ref.value.shape:
        return float("inf")
    if not ref.value.numel():
        return 0.0
    err = (out.value.double() - ref.value.double()).abs().max().item()
    gap = err / max(1.0, ref.value.abs().max().item())
    return gap if gap == gap else float("inf")  # NaN: cannot be compared


def dtype_line(outs: dict[str, Outcome], refs: dict[str, Outcome],
               usable: dict[str, Outcome]) -> list[Line]:
    """Where the reference, given float64 inputs, returns float64: so must the answer, to
    float64 precision (a float32 step inside shows as an error far above 1e-9). An answer
    already wrong on the float32 case is judged here on dtype and shape only: its values
    fail the exercise's own lines."""
    name = next(iter(outs), None)
    ref = refs.get(name)
    if name is None or ref is None or ref.error or not isinstance(ref.value, torch.Tensor) \
            or ref.value.dtype != torch.float64:
        return []
    out, detail = outs[name], ""
    if out.error:
        detail = f"float64 inputs: {out.error}"
    elif not isinstance(out.value, torch.Tensor) or out.value.dtype != torch.float64:
        detail = f"float64 inputs gave {describe(out.value)}"
    elif out.value.shape != ref.value.shape:
        detail = f"float64 inputs gave shape {tuple(out.value.shape)}"
    else:
        base = name[: -len(FLOAT64)]
        right_in_float32 = _gap(usable.get(base) if base in usable else None,
                                refs.get(base)) <= 1e-4
        gap = _gap(out, ref)
        if right_in_float32 and not gap <= 1e-9:
            detail = (f"max |yours - reference| = {gap:.1e} (relative) on float64 inputs: "
                      "float32 precision somewhere inside")
    return [Line(not detail, "follows the inputs' dtype (float64 in, float64 out)", detail,
                 "build constants and intermediates in the inputs' dtype (torch.zeros_like, "
                 "x.new_tensor, dtype=x.dtype); a fresh torch.tensor or .float() is float32")]


def generic_lines(outs: dict[str, Outcome], refs: dict[str, Outcome]) -> list[Line]:
    """The properties every exercise gets by its kind, judged on the cases where they apply
    (where the reference itself has them): no aliasing, no global RNG, gradients kept."""
    lines = []
    usable = {k: o for k, o in dict(outs).items() if k in refs}
    for name, flag, hint in GENERIC:
        fair = [k for k, r in refs.items() if not getattr(r, flag)]
        if fair:
            bad = [k for k in fair if k in usable and getattr(usable[k], flag)]
            lines.append(Line(not bad, name, f"not so in case '{bad[0]}'" if bad else "", hint))
    with_grad = [k for k, r in refs.items() if r.requires_grad]
    if with_grad:
        cut = [k for k in with_grad if k in usable and not usable[k].requires_grad]
        lines.append(Line(
            not cut, "keeps the graph: gradients reach the inputs and parameters",
            f"the result of case '{cut[0]}' has no gradient to backpropagate" if cut else "",
            "return the tensor itself: .item(), .detach(), .numpy(), torch.no_grad() or "
            "torch.tensor(...) of a result cut the graph that training needs"))
    return lines


def close(*names: str, atol: float = 1e-5, rtol: float = 1e-4):
    """A Prop test: the outputs of the named cases equal the reference's within tolerance."""
    def test(outs, refs):
        diffs = []
        for name in names:
            got = torch.as_tensor(outs[name].value, dtype=torch.float64)
            want = torch.as_tensor(refs[name].value, dtype=torch.float64)
            diff = (got - want).abs()
            if not bool((diff <= atol + rtol * want.abs()).all()):
                return False, f"case '{name}': max |yours - reference| = {diff.max():.2e}"
            diffs.append(f"{diff.max():.1e}" if diff.numel() else "0")
        return True, f"max |yours - reference| = {', '.join(diffs)}"
    return test
