"""The generic properties, declared once and applied to every exercise by its kind: a new
tensor, not an input; the global RNG left alone; the graph kept where training needs it; the
inputs' dtype followed (device.py: and their device). judge.py adds these lines to every
report, each with its own hint."""
from __future__ import annotations

import torch

from course_lib.checking.line import Line, describe
from course_lib.checking.probe import FLOAT64, Outcome

CONSEQUENCE = ("may only follow from the random-state line above (other random numbers give "
               "other values): fix that first, then run the check again")


def knock_on(name: str, case: str) -> Line:
    """A generic line probed on a copy of a case that already failed above (a crash or a
    wrong shape there too): not judged on its own, so its hint does not send the learner
    after a dtype or a device that is not the problem."""
    return Line(False, name, f"not checked: case '{case}' failed above",
                "follows from that failure: fix it first, then run the check again")


# What a crash says about its cause, most specific first: (words in the error, the hint, the
# code hint). The last one, about shapes, is the most common cause and the default.
CRASHES = [
    (("the same tensor at several steps",),
     "a state the loop has handed back must not change afterwards: each step makes a new one",
     "x = x - step * eps_hat makes a new tensor; x -= ... and x.add_(...) change the one "
     "yielded before"),
    (("in-place", "inplace", "leaf Variable"),
     "an operation changed a tensor in place that autograd still needs (an input that "
     "requires grad, or a value it saved for the backward pass): compute a new tensor instead",
     "y = x * a makes a new tensor; x *= a, x.mul_(a) and x[...] = ... change x itself"),
    (("dtype", "scalar type", "Double", "Half"),
     "two tensors of different dtypes meet in one operation: something was built or cast in "
     "another dtype than the inputs, or comes from the notebook (a model, a tensor) instead "
     "of the arguments",
     "print the .dtype of each tensor on the failing line; build constants with dtype=x.dtype "
     "and use only the function's arguments"),
    (("positional argument", "keyword argument", "required argument", "not callable"),
     "a function was called with other arguments than it takes: compare the call on the "
     "failing line with that function's signature and the docstring",
     "print(inspect.signature(f)) shows what f takes; the docstring says which arguments may "
     "be None and what each one is"),
    (("out of bounds", "out of range"),
     "an index runs past the end of a tensor or a list: which dimension is indexed, and how "
     "long is it in the failing case?",
     "print the .shape of the tensor and the smallest and largest index you use on it"),
    ((),
     "the error names the failing line; print the shapes of the tensors it combines",
     "call your function yourself on inputs shaped like the failing case's and print .shape "
     "of each tensor before that line; the docstring says which shapes must work (a batch of "
     "one, other ranks)"),
]


def crash_hints(error: str) -> tuple[str, str]:
    """The hint and the code hint for a crash with this error message."""
    return next((hint, code) for words, hint, code in CRASHES
                if not words or any(w in error for w in words))


GENERIC = [  # (what the line says, the Outcome flag that breaks it, the hint, the code hint)
    ("returns a new tensor, not one of its inputs", "aliased",
     "the result must own its memory: a caller who changes it must not change an input",
     "returning an input, or a view of one (x.view(...), x[...], x.reshape(...) often), ties "
     "the result to the caller's tensor; build it with out-of-place operations"),
    ("leaves torch's global random state alone", "rng_touched",
     "every random draw must come from the generator you are given, so a run can be repeated",
     "pass generator=... to torch.randn / torch.rand; without it, or with torch.manual_seed, "
     "they use or reset the global RNG"),
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
    out, detail, base = outs[name], "", name[: -len(FLOAT64)]
    if (out.error or getattr(out.value, "shape", None) != ref.value.shape) and base not in usable:
        return [knock_on("follows the inputs' dtype (float64 in, float64 out)", base)]
    if out.error:
        detail = f"float64 inputs: {out.error}"
    elif not isinstance(out.value, torch.Tensor) or out.value.dtype != torch.float64:
        detail = f"float64 inputs gave {describe(out.value)}"
    elif out.value.shape != ref.value.shape:
        detail = f"float64 inputs gave shape {tuple(out.value.shape)}"
    else:
        right_in_float32 = _gap(usable.get(base) if base in usable else None,
                                refs.get(base)) <= 1e-4
        gap = _gap(out, ref)
        if right_in_float32 and not gap <= 1e-9:
            detail = (f"max |yours - reference| = {gap:.1e} (relative) on float64 inputs: "
                      "float32 precision somewhere inside")
    return [Line(not detail, "follows the inputs' dtype (float64 in, float64 out)", detail,
                 "float64 inputs must give a float64 result, computed in float64 throughout",
                 "build constants and intermediates in the inputs' dtype (torch.zeros_like, "
                 "x.new_tensor, dtype=x.dtype); a fresh torch.tensor or .float() is float32")]


def generic_lines(outs: dict[str, Outcome], refs: dict[str, Outcome]) -> list[Line]:
    """The properties every exercise gets by its kind, judged on the cases where they apply
    (where the reference itself has them): no aliasing, no global RNG, gradients kept."""
    lines = []
    usable = {k: o for k, o in dict(outs).items() if k in refs}
    for name, flag, hint, code in GENERIC:
        fair = [k for k, r in refs.items() if not getattr(r, flag)
                and (flag != "aliased" or isinstance(r.value, torch.Tensor))]
        if fair:
            bad = [k for k in fair if k in usable and getattr(usable[k], flag)]
            lines.append(Line(not bad, name, f"not so in case '{bad[0]}'" if bad else "",
                              hint, code))
    with_grad = [k for k, r in refs.items() if r.requires_grad]
    if with_grad:
        cut = [k for k in with_grad if k in usable and not usable[k].requires_grad]
        lines.append(Line(
            not cut, "keeps the graph: gradients reach the inputs and parameters",
            f"the result of case '{cut[0]}' has no gradient to backpropagate" if cut else "",
            "training backpropagates through this result: it must stay connected to its inputs",
            "return the tensor itself: .item(), .detach(), .numpy(), torch.no_grad() or "
            "torch.tensor(...) of a result cut the graph that training needs"))
    return lines
