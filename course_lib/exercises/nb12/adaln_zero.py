"""Exercise `adaln_zero` (notebook 12): the modulation network of an adaLN-Zero block, a
linear map of SiLU(c) that starts at zero, so that every block starts as the identity."""
from __future__ import annotations

import torch
from torch import nn

from course_lib.checking import Case, Props, exercise
from course_lib.exercises.common import draw, gen, pick, seeded


# <solution cell>
def adaln_zero(cond_dim: int, dim: int, chunks: int = 6) -> nn.Module:
    """A new module for equation (Z) of section 8: it maps a condition c (B, cond_dim) to
    chunks vectors of size dim at once, (B, chunks * dim), as a linear layer of SiLU(c),
    initialised so that its output is 0 for every c while all its weights can learn."""
    ### BEGIN SOLUTION
    linear = nn.Linear(cond_dim, chunks * dim)
    nn.init.zeros_(linear.weight)
    nn.init.zeros_(linear.bias)
    return nn.Sequential(nn.SiLU(), linear)
    ### END SOLUTION
# </solution cell>


def trained_once(build):
    """The harness: build the module (torch's RNG seeded), read it on a condition c, take one
    plain gradient step on the loss sum(out * g), and read it again on another condition.
    Plain data: the output at the start, the output after the step, the number of
    trainable weights. The conditions and g are drawn for the sizes asked."""
    def run(cond_dim, dim, **kwargs):
        with seeded(1280):
            module = build(cond_dim, dim, **kwargs)
        if not isinstance(module, nn.Module):
            raise TypeError(f"return an nn.Module, not {type(module).__name__}")
        g = gen(1281 + 31 * cond_dim + dim)
        start = module(2 * torch.randn(3, cond_dim, generator=g))
        params = [p for p in module.parameters() if p.requires_grad]
        if start.requires_grad:
            (start * torch.randn(start.shape, generator=g)).sum().backward()
        with torch.no_grad():
            for p in params:
                if p.grad is not None:
                    p -= p.grad
            after = module(2 * torch.randn(3, cond_dim, generator=g))
        return [start.detach(), after, sum(p.numel() for p in params)]
    return run


def cases() -> dict[str, Case]:
    # the drawn sizes: the notebook's in the notebook, never the notebook's under a grading draw
    k = 5 if draw() == 0 else pick(1283, 3, 7, 6)
    d = 4 if draw() == 0 else pick(1284, 6, 3, 5)
    return {"six": Case((8, 5)),
            "two": Case((8, 5), {"chunks": 2}),
            "drawn": Case((k, d), {"chunks": pick(1285, 6, 3)})}


PROPS = Props()


def _value(outs, name, i):
    return torch.as_tensor(outs[name].value[i])


@PROPS
def _shape(outs, refs):
    """outputs chunks * dim numbers per sample

    one linear layer makes all the shifts, scales and gates of a block at once: chunks vectors
    of size dim side by side

    code: the linear layer's output size is chunks * dim"""
    for name in refs:
        got, want = _value(outs, name, 0), _value(refs, name, 0)
        if got.shape != want.shape:
            return False, (f"case '{name}': output shape {tuple(got.shape)}, expected "
                           f"{tuple(want.shape)}")
    return True, "the right number of outputs"


@PROPS
def _zero(outs, refs):
    """outputs exactly 0 at the start, for every condition

    adaLN-Zero starts every shift, scale and gate at 0: with the gates at 0 each block adds
    nothing to its input, so the whole network starts as the identity on its tokens and training
    grows each block from there

    code: nn.init.zeros_ on the linear layer's weight and on its bias"""
    for name in refs:
        got = _value(outs, name, 0).abs().max().item()
        if got != 0:
            return False, f"case '{name}': the output at the start reaches {got:.2e}, not 0"
    return True, "0 for every condition"


@PROPS
def _learns(outs, refs):
    """learns: one gradient step moves it as it moves the reference

    zero weights must still be trainable, and the condition enters through SiLU before the
    linear layer, with a bias: after one step the output is then a known function of the new
    condition

    code: keep requires_grad on both the weight and the bias; nn.SiLU() comes before the linear
    layer, not after it"""
    for name in refs:
        got, want = _value(outs, name, 1), _value(refs, name, 1)
        if got.shape != want.shape or not torch.allclose(got, want, atol=1e-4, rtol=1e-4):
            err = (f"by {(got - want).abs().max().item():.2e}" if got.shape == want.shape
                   else f"in shape, {tuple(got.shape)}")
            return False, (f"case '{name}': after one step the output differs from the "
                           f"reference's {err}")
    return True, "one step moves it as expected"


class _Custom(nn.Module):
    def __init__(self, cond_dim, dim, chunks=6):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(chunks * dim, cond_dim))
        self.bias = nn.Parameter(torch.zeros(chunks * dim))

    def forward(self, c):
        return nn.functional.linear(nn.functional.silu(c), self.weight, self.bias)


def _build(cond_dim, dim, chunks=6, zero_weight=True, zero_bias=True, act="before",
           bias=True, frozen=False, out=None):
    linear = nn.Linear(cond_dim, (out or chunks) * dim, bias=bias)
    if zero_weight:
        nn.init.zeros_(linear.weight)
    if zero_bias and bias:
        nn.init.zeros_(linear.bias)
    linear.requires_grad_(not frozen)
    layers = {"before": [nn.SiLU(), linear], "after": [linear, nn.SiLU()], "none": [linear],
              "gelu": [nn.GELU(), linear]}[act]
    return nn.Sequential(*layers)


def _data_zero(cond_dim, dim, chunks=6):
    linear = nn.Linear(cond_dim, chunks * dim)
    linear.weight.data.zero_()
    linear.bias.data.zero_()
    return nn.Sequential(nn.SiLU(), linear)


BUGS = {
    "no zero init (torch's default)":
        lambda k, d, chunks=6: _build(k, d, chunks, zero_weight=False, zero_bias=False),
    "weight zeroed, bias left random":
        lambda k, d, chunks=6: _build(k, d, chunks, zero_bias=False),
    "zero and frozen (requires_grad False)":
        lambda k, d, chunks=6: _build(k, d, chunks, frozen=True),
    "no SiLU": lambda k, d, chunks=6: _build(k, d, chunks, act="none"),
    "SiLU after the linear layer": lambda k, d, chunks=6: _build(k, d, chunks, act="after"),
    "no bias": lambda k, d, chunks=6: _build(k, d, chunks, bias=False),
    "[held] six chunks always": lambda k, d, chunks=6: _build(k, d, 6),
    "[held] chunks * cond_dim outputs": lambda k, d, chunks=6: _build(k, k, chunks),
}
ALTERNATIVES = {
    "weights as zero Parameters, F.linear of F.silu": _Custom,
    ".data.zero_() on both": _data_zero,
    "nn.init.constant_(0)": lambda k, d, chunks=6: nn.Sequential(nn.SiLU(), (lambda lin: (
        nn.init.constant_(lin.weight, 0.0), nn.init.constant_(lin.bias, 0.0), lin)[-1])(
        nn.Linear(k, chunks * d))),
}

EXERCISE = exercise(globals(), points=2, summary="adaLN-Zero: a modulation that starts at 0",
                    harness=trained_once, float64=False,
                    reread="8. A diffusion transformer (DiT)")
