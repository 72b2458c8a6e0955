"""Exercise `lora_forward` (notebook 10): a linear layer plus a low-rank update."""
from __future__ import annotations

import torch
from torch import nn

from course_lib.checking import Case, Props, close, equals, exercise
from course_lib.exercises.common import gen, pick, seeded
from course_lib.exercises.nb10.probes import peft_linear


# <solution cell>
def lora_forward(x: torch.Tensor, base: nn.Linear, A: torch.Tensor, B: torch.Tensor,
                 alpha: float) -> torch.Tensor:
    """The LoRA layer's output h of section 1: base is the frozen nn.Linear (W and b),
    A (r, d_in), B (d_out, r), alpha the scale; x (..., d_in) -> (..., d_out)."""
    ### BEGIN SOLUTION
    r = A.shape[0]
    return base(x) + (alpha / r) * (x @ A.T @ B.T)
    ### END SOLUTION
# </solution cell>


def _linear(d_in, d_out, seed, frozen=False, dtype=torch.float32):
    with seeded(seed):
        base = nn.Linear(d_in, d_out).to(dtype)
    return base.requires_grad_(not frozen)


def cases() -> dict[str, Case]:
    g = gen(100)
    base = _linear(12, 10, 101)
    A, B = torch.randn(4, 12, generator=g), torch.randn(10, 4, generator=g)
    x = torch.randn(5, 12, generator=g)
    h = gen(102)  # LoRA as trained: the base frozen, only A and B learn
    frozen = _linear(9, 7, 103, frozen=True)
    A1, B1 = torch.randn(1, 9, generator=h), torch.randn(7, 1, generator=h)
    x1 = torch.randn(3, 5, 9, generator=h)                     # (B, L, D), a rank-1 adapter
    f64 = _linear(6, 11, 104, frozen=True, dtype=torch.float64)
    A3, B3 = (torch.randn(3, 6, generator=h, dtype=torch.float64),
              torch.randn(11, 3, generator=h, dtype=torch.float64))
    x3 = torch.randn(1, 7, 6, generator=h, dtype=torch.float64)
    return {"rank4": Case((x, base, A, B, pick(105, 8.0, 4.0, 16.0, 3.0))),
            "B_zero": Case((x, base, A, torch.zeros_like(B), pick(106, 8.0, 2.0, 32.0))),
            "batch3d": Case((torch.randn(2, 3, 12, generator=g), base, A, B,
                             pick(107, 2.0, 1.0, 6.0))),
            "rank2": Case((x, base, A[:2], B[:, :2], pick(108, 1.0, 0.5, 4.0))),
            "rank1_frozen": Case((x1, frozen, A1.requires_grad_(), B1.requires_grad_(),
                                  pick(109, 0.5, 2.0, 5.0))),
            "float64": Case((x3, f64, A3.requires_grad_(), B3.requires_grad_(),
                             pick(110, 6.0, 1.5, 12.0)))}


PROPS = Props()


PROPS("""B = 0 gives the base layer exactly

      the adapter's update is added to the base layer's whole output, bias included; with B zero
      the update vanishes and the base layer's output is left exactly

      code: base(x) already includes the bias b: add the update to it""",
      equals(cases, "B_zero", lambda x, base, *_: base(x), "base(x)", atol=1e-6))


@PROPS
def _peft(outs, refs):
    """equals peft's LoRA Linear with the same weights, at ranks 4, 2 and 1

    the update is scaled by alpha over the rank, and the rank is the number of rows of A, read
    from A (peft scales by lora_alpha over r)

    code: r = A.shape[0]; the factor is alpha / r, not alpha, not r / alpha, not a fixed rank or
    alpha"""
    worst, all_cases = 0.0, cases()
    for name in ("rank4", "rank2", "rank1_frozen"):
        x, base, A, B, alpha = all_cases[name].args
        with torch.no_grad():
            want = peft_linear(base, A, B, alpha)(x)
        err = (outs[name].value - want).abs() / (1 + want.abs())
        worst = max(worst, err.max().item())
    return worst < 1e-5, (f"max |yours - peft's LoRA Linear with the same A, B| / (1 + |peft's|)"
                          f" = {worst:.1e}")


def _lora(x, base, A, B, alpha, scale=None, bias=True, base_term=True, no_grad=False,
          dtype=None):
    xs, As, Bs = (x, A, B) if dtype is None else (x.to(dtype), A.to(dtype), B.to(dtype))
    with torch.set_grad_enabled(not no_grad and torch.is_grad_enabled()):
        update = xs @ As.T @ Bs.T
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
    "[held] rank fixed at 4": lambda *a: _lora(*a, scale=lambda al, r: al / 4),
    "[held] alpha fixed at 8": lambda *a: _lora(*a, scale=lambda al, r: 8.0 / r),
    "[held] 2-d inputs only (torch.mm)": lambda x, base, A, B, al: base(x) + al / A.shape[0]
    * torch.mm(torch.mm(x, A.T), B.T),
    "[grad] the update computed without gradients": lambda *a: _lora(*a, no_grad=True),
    "[dtype] the update in float32": lambda *a: _lora(*a, dtype=torch.float32),
}
ALTERNATIVES = {
    "merged weight through F.linear": lambda x, base, A, B, al: nn.functional.linear(
        x, base.weight + al / A.shape[0] * B @ A, base.bias),
    "F.linear twice": lambda x, base, A, B, al: base(x) + al / A.shape[0] * (
        nn.functional.linear(nn.functional.linear(x, A), B)),
}

PROPS("""works for inputs with more leading dimensions

      the layer acts on the last dimension, whatever leading dimensions come before it (a batch,
      tokens)

      code: multiply x by A.T, then by B.T, with @ (torch.mm takes 2-d tensors only)""",
      close("batch3d", "rank1_frozen"))

PROPS("""keeps float64 inputs in float64, to full precision

      compute with the tensors you are given, in their dtype: a float32 cast loses digits

      code: no .float() on x, A or B""",
      close("float64", atol=1e-10, rtol=1e-10))

EXERCISE = exercise(globals(), points=2, summary="a linear layer with a low-rank update",
                    reread="1. LoRA: a low-rank update to a frozen layer")
