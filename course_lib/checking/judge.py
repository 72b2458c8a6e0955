"""Judging: turn plain outcomes into one report line per property, with hints that teach.
`judge` compares what the learner's function produced with what the reference produced on the
same cases (the Exercise of exercise.py says which cases and which properties)."""
from __future__ import annotations

from dataclasses import dataclass, field

import torch

from course_lib.checking.device import ELSEWHERE, device_line
from course_lib.checking.exercise import NOT_ROUNDING, Exercise
from course_lib.checking.generic import (
    CONSEQUENCE,
    GENERIC,
    crash_hints,
    dtype_line,
    generic_lines,
)
from course_lib.checking.line import Line, describe
from course_lib.checking.probe import FLOAT64, Outcome


@dataclass
class Report:
    exercise: Exercise
    lines: list[Line]
    not_attempted: bool = False
    notes: list[str] = field(default_factory=list)  # said, but no point depends on them
    # (yours, the reference's) outcomes, kept by evaluate() for the picture of a failure
    outcomes: tuple | None = field(default=None, repr=False, compare=False)

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

    def render(self, tier: int = 1, failed_before: int = 0) -> str:
        """The report as the check cell prints it. Tier 1 explains each failed property; tier 2
        (after two failed runs in the same kernel) adds the code-level hints."""
        ex = self.exercise
        if self.not_attempted:
            return (f"{ex.id}: not attempted yet (0/{ex.points} points). Replace "
                    "`raise NotImplementedError()` with your code, run that cell, then this one.")
        verdict = "passed" if self.passed else "not yet"
        head = f"{ex.id}: {verdict} ({self.score}/{ex.points} points)"
        notes = [f"  note: {note}" for note in self.notes]
        if not self.passed:
            if ex.reread:
                notes.append(f"  stuck? reread the section \"{ex.reread}\" above")
            if tier < 2 and any(line.code for line in self.lines
                                if not line.ok and not line.unchecked):
                more = "once more" if failed_before >= 1 else "twice more"
                notes.append(f"  (code-level hints appear if this check fails {more})")
        return "\n".join([head] + [line.render(tier) for line in self.lines] + notes)


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
                   "build results and constants in the inputs' dtype, or in the dtype "
                   "the docstring names")
            return f"expected dtype {want.dtype}, got {got.dtype} ({why})"
        if got.is_floating_point() and not torch.isfinite(got).all():
            return "contains NaN or inf"
    if isinstance(want, float) and (isinstance(got, bool) or not isinstance(got, (int, float))):
        kind = {"Tensor": "a torch.Tensor", "ndarray": "a numpy array"}.get(out.type_name,
                                                                            out.type_name)
        return f"expected a Python float, got {kind} (.item() turns a one-number tensor into one)"
    return None


NOT_ROUNDING_HINT = ("an error this large is not float32 rounding, so the dtype is not the cause: "
                     "this case is wrong the way the lines above are, or for its own shape or "
                     "values")


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
    elsewhere = {k: outs.pop(k) for k in [k for k in outs if k.endswith(ELSEWHERE)]}
    lines = []
    errors = {name: o.error for name, o in outs.items() if o.error}
    forms = {name: p for name, o in outs.items()
             if not o.error and (p := form_problem(o, refs[name]))}
    first_error = next(iter(errors.items()), None)
    lines.append(Line(not errors, f"runs on all {len(outs)} probe inputs",
                      f"case '{first_error[0]}': {first_error[1]}" if first_error else "",
                      *crash_hints(first_error[1] if first_error else "")))
    example = describe(next(iter(refs.values())).value)
    first_form = next(iter(forms.items()), None)
    form_detail = (f"case '{first_form[0]}': {first_form[1]}" if first_form else
                   "not checked: no case ran" if len(errors) == len(outs) else "")
    nan = bool(first_form) and first_form[1] == "contains NaN or inf"
    lines.append(Line(not forms and not form_detail,
                      f"returns the right type, shape and dtype (e.g. {example})", form_detail,
                      "a NaN or inf comes from a division by zero, a log of zero or an exp that "
                      "overflows: which value reaches it? A level of 0 used where the step's "
                      "starting level belongs, or an edge case the markdown names (a level of "
                      "0, the last step)" if nan else
                      "compare with the docstring: shapes and dtype of the result"))
    mutated = [(name, sorted(set(o.changed) - set(refs[name].changed)))
               for name, o in outs.items() if set(o.changed) - set(refs[name].changed)]
    lines.append(Line(not mutated, "leaves its inputs unchanged",
                      f"changed an input ({', '.join(mutated[0][1])}) in case '{mutated[0][0]}'"
                      if mutated else "",
                      "the caller's tensors must come back as they were given",
                      "use out-of-place operations (x = x + y), not x += y or x.add_(y)"))
    usable = _Usable({k: v for k, v in outs.items() if k not in errors and k not in forms})
    lines += generic_lines(usable, refs)
    lines += dtype_line(f64, refs, usable) + device_line(elsewhere, refs, usable)
    called = sorted({name for o in outs.values() for name in (o.proxies or [])})
    proxy_note = (f"calls {', '.join(called)}, which computes what this exercise asks for"
                  if called else "")
    if not allow_proxies or not called:
        lines.append(Line(not called, "does the work itself", proxy_note,
                          "write it from the equations above; calling your own earlier "
                          "answers is welcome, calling a finished version of this one is not"))
    first_prop = len(lines)
    for prop in ex.props:
        try:
            ok, detail = prop.test(usable, refs)
        except _Unusable as skip:
            ok, detail = False, f"not checked: case '{skip.args[0]}' failed above"
        except Exception as exc:  # a value the property could not even compare
            ok, detail = False, f"could not compare ({type(exc).__name__}: {exc})"
        lines.append(Line(bool(ok), prop.name, detail, prop.hint, prop.code))
        if not ok and NOT_ROUNDING in detail:  # a precision line failed by a formula's error
            lines[-1].hint, lines[-1].code = NOT_ROUNDING_HINT, ""
    if any(line.name == GENERIC[1][0] and not line.ok for line in lines):
        for line in lines[first_prop:]:  # other random numbers give other values everywhere
            if not line.ok:
                line.hint, line.code = CONSEQUENCE, ""
    return Report(ex, lines, notes=[proxy_note] if proxy_note and allow_proxies else [])
