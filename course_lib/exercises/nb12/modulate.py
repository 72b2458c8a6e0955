"""Exercise `modulate` (notebook 12): adaptive layer norm, the tokens normalised without
weights of their own, then scaled and shifted by vectors computed from the condition."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from course_lib.checking import Case, Props, close, equals, exercise
from course_lib.exercises.common import gen, pick


# <solution cell>
def modulate(x: torch.Tensor, shift: torch.Tensor, scale: torch.Tensor,
             eps: float = 1e-6) -> torch.Tensor:
    """Equation (M) of section 8: every token of x (B, N, D) normalised over its D features
    (with eps added to the variance, no learned weights), then scaled and shifted by its own
    sample's shift and scale (B, D), shared by the N tokens. Returns (B, N, D)."""
    ### BEGIN SOLUTION
    mean = x.mean(dim=-1, keepdim=True)
    var = ((x - mean) ** 2).mean(dim=-1, keepdim=True)
    x_hat = (x - mean) / torch.sqrt(var + eps)
    return x_hat * (1 + scale[:, None, :]) + shift[:, None, :]
    ### END SOLUTION
# </solution cell>


def cases() -> dict[str, Case]:
    g = gen(1271)
    x = 2 + 3 * torch.randn(2, 16, 8, generator=g)
    shift, scale = torch.randn(2, 8, generator=g), torch.randn(2, 8, generator=g)
    zero = torch.zeros(2, 8)
    h = gen(1272)
    n = pick(1273, 5, 3, 6, 7)
    sq = torch.randn(n, n, 6, generator=h)                 # as many tokens as samples
    s_sq, c_sq = torch.randn(n, 6, generator=h), torch.randn(n, 6, generator=h)
    tiny = 1e-3 * torch.randn(3, 4, 10, generator=h)        # variance near eps
    s_t, c_t = torch.randn(3, 10, generator=h), torch.randn(3, 10, generator=h)
    one = torch.randn(1, 7, 5, generator=h, dtype=torch.float64).requires_grad_()
    s1 = torch.randn(1, 5, generator=h, dtype=torch.float64).requires_grad_()
    c1 = torch.randn(1, 5, generator=h, dtype=torch.float64).requires_grad_()
    return {"tokens": Case((x, shift, scale)),
            "identity": Case((x, zero, zero)),
            "shift_only": Case((x, shift, zero)),
            "square": Case((sq, s_sq, c_sq)),
            "tiny": Case((tiny, s_t, c_t)),
            "tiny_eps": Case((tiny, s_t, c_t, pick(1274, 1e-4, 1e-3, 1e-2))),
            "one": Case((one, s1, c1))}


PROPS = Props()


PROPS("""with shift = scale = 0 it is a plain layer norm

      with a zero modulation each token is only normalised: mean 0 and variance 1 over its
      features, the same as a LayerNorm without weights

      code: subtract each token's mean over the last axis and divide by the square root of its
      variance (not the unbiased one) plus eps; keepdim=True keeps the axes""",
      equals(cases, "identity", lambda x, *_: F.layer_norm(x, x.shape[-1:], eps=1e-6),
             "layer norm"))


@PROPS
def _shift_scale(outs, refs):
    """shift moves, scale multiplies by 1 + scale

    the condition's shift is added after the normalisation and its scale multiplies by one plus
    it, so that a zero modulation changes nothing

    code: the scale enters as (1 + scale); each (B, D) vector needs a token axis in the middle
    to broadcast over (B, N, D)"""
    for name in ("shift_only", "tokens"):
        got, want = (torch.as_tensor(o[name].value) for o in (outs, refs))
        if got.shape != want.shape or not torch.allclose(got, want, atol=1e-5):
            err = (f"max |yours - reference| = {(got - want).abs().max().item():.2e}"
                   if got.shape == want.shape else f"shape {tuple(got.shape)}")
            return False, f"case '{name}': {err}"
    return True, "shift and scale act as equation (M) says"


def _mod(x, shift, scale, eps=1e-6, swap=False, one=True, dim=-1, unbiased=False,
         norm=True, eps_used=None, token_axis=True):
    if norm:
        mean = x.mean(dim=dim, keepdim=True)
        var = x.var(dim=dim, keepdim=True, unbiased=unbiased)
        x = (x - mean) / torch.sqrt(var + (eps if eps_used is None else eps_used))
    if swap:
        shift, scale = scale, shift
    if token_axis:
        shift, scale = shift[:, None, :], scale[:, None, :]
    return x * ((1 + scale) if one else scale) + shift


def _nn_layer_norm(x, shift, scale, eps=1e-6):
    ln = torch.nn.LayerNorm(x.shape[-1], elementwise_affine=False, eps=eps)
    return ln(x) * (1 + scale.unsqueeze(1)) + shift.unsqueeze(1)


BUGS = {
    "shift and scale swapped": lambda x, s, c, eps=1e-6: _mod(x, s, c, eps, swap=True),
    "scale without the 1 +": lambda x, s, c, eps=1e-6: _mod(x, s, c, eps, one=False),
    "normalised over the tokens, not the features":
        lambda x, s, c, eps=1e-6: _mod(x, s, c, eps, dim=1),
    "no normalisation": lambda x, s, c, eps=1e-6: _mod(x, s, c, eps, norm=False),
    "unbiased variance (torch's .var default)":
        lambda x, s, c, eps=1e-6: _mod(x, s, c, eps, unbiased=True),
    "[held] eps ignored (1e-6 always)":
        lambda x, s, c, eps=1e-6: _mod(x, s, c, eps, eps_used=1e-6),
    "[held] nn.LayerNorm's default eps 1e-5":
        lambda x, s, c, eps=1e-6: _mod(x, s, c, eps, eps_used=1e-5),
    "[held] no token axis (broadcasts only when N equals B or 1)":
        lambda x, s, c, eps=1e-6: _mod(x, s, c, eps, token_axis=False),
    "[dtype] normalised in float32":
        lambda x, s, c, eps=1e-6: _mod(x.float(), s, c, eps).to(x.dtype),
}
ALTERNATIVES = {
    "F.layer_norm without weights": lambda x, s, c, eps=1e-6: torch.addcmul(
        s.unsqueeze(1), F.layer_norm(x, x.shape[-1:], eps=eps), 1 + c.unsqueeze(1)),
    "nn.LayerNorm(elementwise_affine=False)": _nn_layer_norm,
    "var(unbiased=False) and rsqrt": lambda x, s, c, eps=1e-6: (
        (x - x.mean(-1, keepdim=True)) * torch.rsqrt(x.var(-1, unbiased=False, keepdim=True)
                                                     + eps) * (1 + c[:, None]) + s[:, None]),
}

PROPS("""right when the variance is near eps, and with another eps

      eps is added to the variance inside the square root; when the tokens barely vary it
      decides the result, so use the eps you are given

      code: use the argument eps, not a constant, and add it before the square root""",
      close("tiny", "tiny_eps", atol=1e-5, rtol=1e-4))

PROPS("""right when there are as many tokens as samples, and for a batch of one in float64

      each sample's shift and scale are shared by all of its tokens, whatever N and B are

      code: index shift and scale with [:, None, :] (or .unsqueeze(1)) before broadcasting""",
      close("square", "one", atol=1e-6, rtol=1e-6))

EXERCISE = exercise(globals(), points=2, summary="adaptive layer norm (shift and scale)",
                    reread="8. A diffusion transformer (DiT)")
