"""Exercise `merge_lora` (notebook 10): fold a LoRA adapter into its weight matrix."""
from __future__ import annotations

import torch
from torch import nn

from course_lib.checking import Case, Props, exercise
from course_lib.exercises.common import gen
from course_lib.exercises.nb10.lora_forward import lora_forward
from course_lib.exercises.nb10.probes import peft_linear


# <solution cell>
def merge_lora(W: torch.Tensor, A: torch.Tensor, B: torch.Tensor, alpha: float) -> torch.Tensor:
    """W + (alpha / r) B A."""
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
    return {"rect": Case((W, A, B, 8.0)), "square": Case((Ws, As, Bs, 3.0)),
            "B_zero": Case((W, A, torch.zeros_like(B), 8.0))}


PROPS = Props()


@PROPS("the merged layer computes what the LoRA layer does",
       "B @ A is (d_out, d_in) like W; (alpha / r) with r = A.shape[0]")
def _forward(outs, refs):
    W, A, B, alpha = cases()["rect"].args
    x = torch.randn(5, 12, generator=gen(103))
    base = nn.Linear(12, 10, bias=False)
    with torch.no_grad():
        base.weight.copy_(W)
        want = lora_forward(x, base, A, B, alpha)
    diff = (x @ outs["rect"].value.T - want).abs().max().item()
    return diff < 1e-4, f"x @ merged.T vs the unmerged LoRA layer: max diff {diff:.1e}"


@PROPS("equals peft's merge()",
       "B @ A, not A.T @ B.T (the transpose has the same shape for square W)")
def _peft(outs, refs):
    worst = 0.0
    for name in ("rect", "square"):
        W, A, B, alpha = cases()[name].args
        base = nn.Linear(W.shape[1], W.shape[0], bias=False)
        with torch.no_grad():
            base.weight.copy_(W)
        layer = peft_linear(base, A, B, alpha)
        layer.merge()
        worst = max(worst, (outs[name].value - layer.base_layer.weight).abs().max().item())
    return worst < 1e-4, f"max |yours - peft's merge()| = {worst:.1e}"


@PROPS("B = 0 leaves W unchanged",
       "W + (alpha / r) * B @ A")
def _zero(outs, refs):
    W = cases()["B_zero"].args[0]
    same = torch.equal(outs["B_zero"].value, W)
    return same, "B = 0 leaves W as it was" if same else "B = 0 changed W"


def _in_place(W, A, B, alpha):
    return W.add_(alpha / A.shape[0] * B @ A)


BUGS = {
    "no alpha / r scale": lambda W, A, B, al: W + B @ A,
    "transposed update": lambda W, A, B, al: W + al / A.shape[0] * (A.T @ B.T),
    "alpha, not alpha / r": lambda W, A, B, al: W + al * B @ A,
    "merges into W in place": _in_place,
}
ALTERNATIVES = {"einsum": lambda W, A, B, al: W + torch.einsum("or,ri->oi", B, A)
                * al / A.shape[0]}

EXERCISE = exercise(globals(), points=1, summary="fold the adapter into the weight")
