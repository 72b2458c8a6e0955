"""Exercise `merge_lora` (notebook 10): fold a LoRA adapter into its weight matrix."""
from __future__ import annotations

import torch
from torch import nn

from course_lib.checking import Case, Props, close, equals_input, exercise
from course_lib.exercises.common import gen, pick, seeded
from course_lib.exercises.nb10.lora_forward import lora_forward
from course_lib.exercises.nb10.probes import peft_linear


# <solution cell>
def merge_lora(W: torch.Tensor, A: torch.Tensor, B: torch.Tensor, alpha: float) -> torch.Tensor:
    """The merged weight W' of section 1, a new (d_out, d_in) tensor; W (d_out, d_in) is
    not changed. A (r, d_in), B (d_out, r), alpha the scale."""
    ### BEGIN SOLUTION
    return W + (alpha / A.shape[0]) * (B @ A)
    ### END SOLUTION
# </solution cell>


def cases() -> dict[str, Case]:
    g = gen(102)
    W = torch.randn(10, 12, generator=g)
    A, B = torch.randn(4, 12, generator=g), torch.randn(10, 4, generator=g)
    Ws, As, Bs = (torch.randn(8, 8, generator=g), torch.randn(2, 8, generator=g),
                  torch.randn(8, 2, generator=g))
    h = gen(111)
    W1, A1, B1 = (torch.randn(5, 9, generator=h), torch.randn(1, 9, generator=h),
                  torch.randn(5, 1, generator=h))
    W64, A64, B64 = (torch.randn(7, 3, generator=h, dtype=torch.float64),
                     torch.randn(3, 3, generator=h, dtype=torch.float64),
                     torch.randn(7, 3, generator=h, dtype=torch.float64))
    return {"rect": Case((W, A, B, pick(112, 8.0, 4.0, 16.0, 2.0))),
            "square": Case((Ws, As, Bs, pick(113, 3.0, 1.0, 6.0))),
            "B_zero": Case((W, A, torch.zeros_like(B), pick(114, 8.0, 1.0, 32.0))),
            "rank1": Case((W1, A1, B1, pick(115, 0.5, 2.0, 5.0))),
            "float64": Case((W64, A64, B64, pick(116, 6.0, 1.5, 12.0)))}


def _unmerged(name: str, W, A, B, alpha) -> tuple[torch.Tensor, torch.Tensor]:
    """(x, the LoRA layer's output on x) for a probe x: what the merged W must reproduce."""
    x = torch.randn(5, W.shape[1], generator=gen(103), dtype=W.dtype)
    with seeded(117):
        base = nn.Linear(W.shape[1], W.shape[0], bias=False, dtype=W.dtype)
    with torch.no_grad():
        base.weight.copy_(W)
        return x, lora_forward(x, base, A, B, alpha)


PROPS = Props()


@PROPS
def _forward(outs, refs):
    """the merged layer computes what the LoRA layer does, at ranks 4, 2 and 1

    the merged weight must give what the LoRA layer gives: the update has W's shape, (d_out,
    d_in), is made of B then A, and is scaled by alpha over the rank, the number of rows of A

    code: B @ A has shape (d_out, d_in); r = A.shape[0]; the factor is alpha / r"""
    worst, where = 0.0, ""
    for name, case in cases().items():
        if name == "B_zero":
            continue
        x, want = _unmerged(name, *case.args)
        diff = ((x @ outs[name].value.to(x.dtype).T - want).abs() / (1 + want.abs())).max()
        if not diff.item() < worst:
            worst, where = diff.item(), name
    return worst < 1e-5, (f"x @ merged.T vs the unmerged LoRA layer: max |difference| / "
                          f"(1 + |LoRA layer|) = {worst:.1e} (worst in case '{where}')")


@PROPS
def _peft(outs, refs):
    """equals peft's merge()

    the order of the product matters: for a square W the transposed product has the right shape
    but not the right values

    code: B @ A, not A.T @ B.T"""
    worst, all_cases = 0.0, cases()
    for name in ("rect", "square", "rank1"):
        W, A, B, alpha = all_cases[name].args
        base = nn.Linear(W.shape[1], W.shape[0], bias=False, device="meta")
        base.weight = nn.Parameter(W.clone())
        layer = peft_linear(base, A, B, alpha)
        layer.merge()
        worst = max(worst, (outs[name].value - layer.base_layer.weight).abs().max().item())
    return worst < 1e-4, f"max |yours - peft's merge()| = {worst:.1e}"


PROPS("""B = 0 leaves W unchanged

      with B zero the adapter adds nothing: the result holds W's values

      code: return W plus the update as a new tensor (no W.add_ or +=)""",
      equals_input(cases, "B_zero", 0, "W", atol=0))


def _in_place(W, A, B, alpha):
    return W.add_(alpha / A.shape[0] * B @ A)


BUGS = {
    "no alpha / r scale": lambda W, A, B, al: W + B @ A,
    "transposed update": lambda W, A, B, al: W + al / A.shape[0] * (A.T @ B.T),
    "alpha, not alpha / r": lambda W, A, B, al: W + al * B @ A,
    "merges into W in place": _in_place,
    "[held] rank fixed at 4": lambda W, A, B, al: W + al / 4 * (B @ A),
    "[held] alpha fixed at 8": lambda W, A, B, al: W + 8.0 / A.shape[0] * (B @ A),
    "[alias] returns W itself when B = 0": lambda W, A, B, al: W if not B.any()
    else W + al / A.shape[0] * (B @ A),
    "[dtype] the update in float32": lambda W, A, B, al: W + al / A.shape[0] * (
        B.float() @ A.float()),
}
ALTERNATIVES = {"einsum": lambda W, A, B, al: W + torch.einsum("or,ri->oi", B, A)
                * al / A.shape[0]}

PROPS("""keeps float64 inputs in float64, to full precision

      compute with the tensors you are given, in their dtype: a float32 cast loses digits

      code: no .float() on A or B""",
      close("float64", atol=1e-10, rtol=1e-10))

EXERCISE = exercise(globals(), points=1, summary="fold the adapter into the weight",
                    reread="1. LoRA: a low-rank update to a frozen layer")
