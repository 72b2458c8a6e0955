"""Exercise `lora_forward` (notebook 10): a linear layer plus a low-rank update."""
from __future__ import annotations

import torch
from torch import nn

from course_lib.checking import Case, Props, close, exercise
from course_lib.exercises.common import gen
from course_lib.exercises.nb10.probes import peft_linear


# <solution cell>
def lora_forward(x: torch.Tensor, base: nn.Linear, A: torch.Tensor, B: torch.Tensor,
                 alpha: float) -> torch.Tensor:
    """h = W x + b + (alpha / r) B A x, for x (..., d_in); returns (..., d_out)."""
    ### BEGIN SOLUTION
    r = A.shape[0]
    return base(x) + (alpha / r) * (x @ A.T @ B.T)
    ### END SOLUTION
# </solution cell>


def _linear(d_in, d_out, seed):
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        return nn.Linear(d_in, d_out)


def cases() -> dict[str, Case]:
    g = gen(100)
    base = _linear(12, 10, 101)
    A, B = torch.randn(4, 12, generator=g), torch.randn(10, 4, generator=g)
    x = torch.randn(5, 12, generator=g)
    return {"rank4": Case((x, base, A, B, 8.0)),
            "B_zero": Case((x, base, A, torch.zeros_like(B), 8.0)),
            "batch3d": Case((torch.randn(2, 3, 12, generator=g), base, A, B, 2.0)),
            "rank2": Case((x, base, A[:2], B[:, :2], 1.0))}


PROPS = Props()


@PROPS("B = 0 gives the base layer exactly",
       "h = base(x) + (alpha / r) * (x @ A.T @ B.T): base(x) includes the bias")
def _zero(outs, refs):
    x, base, *_ = cases()["B_zero"].args
    with torch.no_grad():
        diff = (outs["B_zero"].value - base(x)).abs().max().item()
    return diff < 1e-6, f"B = 0: max |yours - base(x)| = {diff:.1e}"


@PROPS("equals peft's LoRA Linear with the same weights",
       "the scale is alpha / r, with r = A.shape[0] (peft: lora_alpha / r)")
def _peft(outs, refs):
    worst = 0.0
    for name in ("rank4", "rank2"):
        x, base, A, B, alpha = cases()[name].args
        with torch.no_grad():
            want = peft_linear(base, A, B, alpha)(x)
        worst = max(worst, (outs[name].value - want).abs().max().item())
    return worst < 1e-5, f"max |yours - peft's LoRA Linear with the same A, B| = {worst:.1e}"


def _lora(x, base, A, B, alpha, scale=None, bias=True, base_term=True):
    update = x @ A.T @ B.T
    out = update * (alpha / A.shape[0] if scale is None else scale(alpha, A.shape[0]))
    if base_term:
        out = out + (base(x) if bias else x @ base.weight.T)
    return out


BUGS = {
    "no alpha / r scale": lambda *a: _lora(*a, scale=lambda al, r: 1.0),
    "alpha, not alpha / r": lambda *a: _lora(*a, scale=lambda al, r: al),
    "r / alpha": lambda *a: _lora(*a, scale=lambda al, r: r / al),
    "base without its bias": lambda *a: _lora(*a, bias=False),
    "the update alone": lambda *a: _lora(*a, base_term=False),
}
ALTERNATIVES = {
    "merged weight through F.linear": lambda x, base, A, B, al: nn.functional.linear(
        x, base.weight + al / A.shape[0] * B @ A, base.bias),
    "F.linear twice": lambda x, base, A, B, al: base(x) + al / A.shape[0] * (
        nn.functional.linear(nn.functional.linear(x, A), B)),
}

PROPS("works for inputs with more leading dimensions",
      "x @ A.T works for (..., d_in); avoid x.T or torch.mm",
      close("batch3d"))

EXERCISE = exercise(globals(), points=2, summary="a linear layer with a low-rank update")
