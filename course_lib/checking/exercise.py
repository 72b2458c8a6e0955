"""What an exercise is: its reference, probe cases, properties, planted bugs and correct
alternatives, declared in one file of course_lib/exercises/ with `PROPS` and `exercise(...)`."""
from __future__ import annotations

import functools
import importlib
import inspect
import sys
from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from course_lib.checking.device import with_device_copy
from course_lib.checking.probe import Case, Outcome, with_float64_copy


@dataclass
class Prop:
    """A property of the outputs: `test(outs, refs) -> (ok, detail)`. On failure `hint` says what
    the property means (the idea, never the code); `code`, a code-level hint, is shown only
    after the learner's check of this exercise has failed twice (checking.check)."""
    name: str
    test: Callable[[dict[str, Outcome], dict[str, Outcome]], tuple[bool, str]]
    hint: str
    code: str = ""


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
    # library functions that would do this exercise's work for the learner, by their dotted
    # names ("diffusers.DDIMScheduler.step"): found when a check first runs, so importing the
    # registry loads no diffusers
    proxies: tuple[str, ...] = ()
    bugs: dict[str, Callable] = field(default_factory=dict)          # wrong answers: must fail
    alternatives: dict[str, Callable] = field(default_factory=dict)  # right answers: must pass
    file: str | None = None  # the exercise's file, which holds its solution cell
    # a loop graded by what it produces: harness(fn) calls fn and returns plain data (e.g.
    # every state a sampling loop yields), and is what gets probed, for answer and reference
    harness: Callable[[Callable], Callable] | None = None
    float64: bool = True  # also probe a float64 copy of the first case (False: a training run)
    device: bool = True  # and a copy on another device (False: a training run, or too slow)
    reread: str = ""  # the notebook section a stuck learner should read again (its heading)

    def probed(self, fn: Callable) -> Callable:
        """What is probed for fn: fn itself, or the harness around it."""
        if self.harness is None:
            return fn
        return functools.wraps(fn)(self.harness(fn))  # __wrapped__: the tripwire sees fn

    def probe_cases(self) -> dict[str, Case]:
        """The cases answers are probed on: the file's own, a float64 copy of the first and
        a copy of the first on another device (checking/device.py)."""
        cases = with_float64_copy(self.cases()) if self.float64 else self.cases()
        return with_device_copy(cases) if self.float64 and self.device else cases

    def watch(self) -> dict[str, Callable]:
        """What an answer must not hand the work to: the course's own copy of this very
        answer, and the library functions that compute the same thing."""
        names = {f"course_lib's {self.id}": self.reference}
        for f in map(_resolve, self.proxies):
            names[f"{getattr(f, '__module__', None) or 'torch'}.{f.__qualname__}"] = f
        return names


class Props(list):
    """An exercise file's properties, in the order it declares them. Each has a text: its first
    paragraph names the property, the next is the hint a learner sees when it fails (the idea,
    never the code), and an optional last one starting "code: " is the code-level hint. Write
    the text as the docstring of a test function under a bare `@PROPS`, or give it with a plain
    comparison, `PROPS(text, close("case"))` (`equals(...)` for an answer known another way,
    `equals_input(...)` for one of the inputs, `is_zero(...)` for 0). `@PROPS(text)` takes a text
    that has to be built, such as an f-string."""

    def __call__(self, text: str | Callable, test: Callable | None = None):
        if callable(text):                      # bare @PROPS: the text is the docstring
            name, hint, code = _parts(text.__doc__, text.__qualname__)
            self.append(Prop(name, text, hint, code))
            return text

        def add(fn: Callable) -> Callable:
            name, hint, code = _parts(text, fn.__qualname__)
            self.append(Prop(name, fn, hint, code))
            return fn
        return add if test is None else add(test)


def _parts(text: str | None, where: str) -> tuple[str, str, str]:
    """(name, hint, code) from a property's text: paragraphs split by blank lines, each one's
    lines joined by single spaces."""
    paras = [" ".join(line.strip() for line in p.splitlines())
             for p in inspect.cleandoc(text or "").split("\n\n") if p.strip()]
    code = [p.removeprefix("code: ") for p in paras[1:] if p.startswith("code: ")]
    hint = [p for p in paras[1:] if not p.startswith("code: ")]
    if not paras or len(hint) != 1 or len(code) > 1:
        raise ValueError(f"property {where}: its text needs a name, a blank line, one hint "
                         "paragraph and at most one paragraph starting 'code: '")
    return paras[0], hint[0], code[0] if code else ""


def _resolve(dotted: str):
    """The object a dotted name names: its longest importable module, then attributes."""
    parts = dotted.split(".")
    for i in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:i]))
        except ModuleNotFoundError:
            continue
        return functools.reduce(getattr, parts[i:], obj)
    raise ModuleNotFoundError(dotted)


def exercise(module: dict, points: int, summary: str, proxies: tuple[str, ...] = (),
             harness: Callable[[Callable], Callable] | None = None, float64: bool = True,
             reread: str = "", device: bool = True) -> Exercise:
    """The Exercise an exercise file declares, from that file's `globals()`: its id is the file's
    name, its notebook the package's NOTEBOOK, its reference the function named like the file,
    and its `cases`, `PROPS`, `BUGS` and `ALTERNATIVES` are the file's own. `reread` names the
    heading of the notebook section that teaches it."""
    package, _, name = module["__name__"].rpartition(".")
    return Exercise(
        id=name, notebook=sys.modules[package].NOTEBOOK, points=points, reference=module[name],
        cases=module["cases"], props=module["PROPS"], summary=summary, proxies=proxies,
        bugs=module.get("BUGS", {}), alternatives=module.get("ALTERNATIVES", {}),
        file=module["__file__"], harness=harness, float64=float64, reread=reread,
        device=device)


# What a precision property's detail says when its float64 case is off by far more than
# float32 rounding (about 1e-7 of the values): then the cause is not the dtype (judge.py).
NOT_ROUNDING = "far more than rounding"


def close(*names: str, atol: float = 1e-5, rtol: float = 1e-4):
    """A Prop test: the outputs of the named cases equal the reference's within tolerance."""
    def test(outs, refs):
        diffs = []
        for name in names:
            got = torch.as_tensor(outs[name].value, dtype=torch.float64)
            want = torch.as_tensor(refs[name].value, dtype=torch.float64)
            diff = (got - want).abs()
            if not bool((diff <= atol + rtol * want.abs()).all()):
                far = (atol <= 1e-8 and getattr(refs[name].value, "dtype", None) == torch.float64
                       and diff.max() > 1e-5 * max(1.0, want.abs().max()))
                return False, (f"case '{name}': max |yours - reference| = {diff.max():.2e}"
                               + (f", {NOT_ROUNDING}" if far else ""))
            diffs.append(f"{diff.max():.1e}" if diff.numel() else "0")
        return True, f"max |yours - reference| = {', '.join(diffs)}"
    return test


def equals(cases: Callable[[], dict[str, Case]], case: str, want: Callable, name: str,
           atol: float = 1e-5):
    """A Prop test for a result known without the reference: the output on the named case
    equals want(*that case's args), computed another way (a limit, a closed form, diffusers'
    own answer) and called `name` in the message. A wrong shape fails; atol=0 asks for the
    very same numbers."""
    def test(outs, refs):
        with torch.no_grad():
            expected = torch.as_tensor(want(*cases()[case].args))
        got = torch.as_tensor(outs[case].value)
        if got.shape != expected.shape:
            return False, (f"case '{case}': shape {tuple(got.shape)}, {name} has "
                           f"{tuple(expected.shape)}")
        gap = (got.double() - expected.double()).abs().max().item() if got.numel() else 0.0
        return gap <= atol, f"case '{case}': max |yours - {name}| = {gap:.1e} (allowed {atol:g})"
    return test


def equals_input(cases: Callable[[], dict[str, Case]], case: str, arg: int, name: str,
                 atol: float = 1e-6):
    """equals for a limit whose answer is the case's own argument number `arg`, as w = 0 gives
    eps_uncond."""
    return equals(cases, case, lambda *args: args[arg], name, atol)


def is_zero(case: str, name: str, atol: float = 0.0):
    """A Prop test: every entry of the output on the named case is 0 within atol (a perfect
    model's loss, a set's distance to itself); `name` says in the message what is 0."""
    def test(outs, refs):
        got = torch.as_tensor(outs[case].value, dtype=torch.float64).abs().max().item()
        return got <= atol, f"{name} = {got:.2e}, expected 0"
    return test
