"""Exercise `clip_loss` (notebook 09): CLIP's symmetric cross-entropy."""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from course_lib.checking import Case, Props, close, exercise
from course_lib.exercises.common import gen, pick
from course_lib.exercises.nb09.probes import embeddings, value


# <solution cell>
def clip_loss(image_emb: torch.Tensor, text_emb: torch.Tensor, log_scale) -> torch.Tensor:
    """CLIP's loss of section 5 for B matching pairs: image_emb, text_emb (B, D), not
    normalised; log_scale a number or a 0-dim tensor. Returns a 0-dim tensor."""
    ### BEGIN SOLUTION
    u, v = F.normalize(image_emb, dim=-1), F.normalize(text_emb, dim=-1)
    logits = torch.as_tensor(log_scale).exp() * u @ v.T
    target = torch.arange(len(u), device=u.device)
    return (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target)) / 2
    ### END SOLUTION
# </solution cell>


def cases() -> dict[str, Case]:
    g = gen(93)
    u, v = embeddings(g)
    s = torch.tensor(math.log(pick(93, 10.0, 30.0, 3.0, 50.0)))
    lengths = torch.rand(6, 1, generator=g) * 3 + 0.5
    h = gen(193)
    # lengths far from 1 (thousands and thousandths), another scale
    ub, vb = embeddings(h, 5, 8)
    big = torch.tensor(math.log(pick(194, 20.0, 5.0, 60.0)))
    # float64, an odd batch of other width, gradients to both embeddings and the scale
    u64, v64 = embeddings(h, 7, pick(195, 16, 3, 5), dtype=torch.float64)
    s64 = torch.tensor(math.log(pick(196, 14.0, 2.0, 40.0)), dtype=torch.float64)
    # only the scale is learned here: the gradient must reach log_scale
    return {"random": Case((u, v, s)), "swapped": Case((v, u, s)),
            "lengths": Case((u * lengths, v / lengths, s)),
            "scale1": Case((u, v, torch.tensor(0.0))),
            "aligned": Case((u, u + 0.01 * v, torch.tensor(math.log(100.0)))),
            "large_norms": Case((3e3 * ub, 1e-3 * vb, big)),
            "float64": Case((u64.requires_grad_(), v64.requires_grad_(),
                             s64.requires_grad_())),
            "grad_scale": Case((ub, vb, big.clone().requires_grad_()))}


PROPS = Props()


@PROPS
def _symmetric(outs, refs):
    """symmetric: images and texts play the same role

    the loss averages two cross-entropies, over the rows (each image picks its caption) and over
    the columns (each caption picks its image), so swapping images and texts changes nothing

    code: F.cross_entropy of the logits and of their transpose .T, same targets, averaged"""
    a, b = value(outs, "random"), value(outs, "swapped")
    ok = abs(a - b) < 1e-5 * max(1.0, abs(a))  # float32 round-off grows with the loss
    return ok, f"loss(images, texts) = {a:.5f}, loss(texts, images) = {b:.5f}"


@PROPS
def _lengths(outs, refs):
    """only directions count, not lengths

    the logits are scaled cosine similarities: each embedding is brought to unit length on its
    own, along its features, so rescaling one changes nothing

    code: F.normalize(emb, dim=-1): each row (dim=0 would normalise across the batch)"""
    a, b = value(outs, "random"), value(outs, "lengths")
    return abs(a - b) < 1e-4, f"loss {a:.5f}; with each embedding rescaled {b:.5f}"


@PROPS
def _aligned(outs, refs):
    """image i equal to caption i at s = 100 gives a loss near 0

    the cosine similarities are multiplied by the scale s, the exponential of log_scale; at s =
    100 the matching pairs dominate and the loss is near 0

    code: s = torch.as_tensor(log_scale).exp(), not log_scale itself"""
    got = value(outs, "aligned")
    return 0 <= got < 0.05, f"loss {got:.4f}, expected close to 0"


def _clip_loss(u, v, log_scale, directions=2, normalise=True, exp=True, mean=True,
               norm_dim=-1, scale=None, dtype=None):
    if normalise:
        u, v = F.normalize(u, dim=norm_dim), F.normalize(v, dim=norm_dim)
    if dtype is not None:
        u, v = u.to(dtype), v.to(dtype)
    if scale is None:
        scale = log_scale.exp() if exp else log_scale
    logits = scale * u @ v.T
    t = torch.arange(len(u))
    if directions == 1:
        return F.cross_entropy(logits, t)
    both = F.cross_entropy(logits, t) + F.cross_entropy(logits.T, t)
    return both / 2 if mean else both


def _text_by_image(u, v, s, where="the inputs'"):
    u, v = F.normalize(u, dim=-1), F.normalize(v, dim=-1)
    t = torch.arange(len(u), device=u.device if where == "the inputs'" else where)
    return (F.cross_entropy(s.exp() * u @ v.T, t) + F.cross_entropy(s.exp() * v @ u.T, t)) / 2


def _log_softmax(u, v, s):
    u = u / u.norm(dim=1, keepdim=True)
    v = v / v.norm(dim=1, keepdim=True)
    logits = torch.exp(s) * (u @ v.T)
    return -(logits.log_softmax(1).diagonal().mean()
             + logits.log_softmax(0).diagonal().mean()) / 2


def _in_place(u, v, s):
    u /= u.norm(dim=-1, keepdim=True)
    v /= v.norm(dim=-1, keepdim=True)
    return _clip_loss(u, v, s, normalise=False)


BUGS = {
    "[device] targets made on the CPU": lambda u, v, s: _text_by_image(u, v, s, where=None),
    "image-to-text direction only": lambda u, v, s: _clip_loss(u, v, s, directions=1),
    "embeddings not normalised": lambda u, v, s: _clip_loss(u, v, s, normalise=False),
    "log_scale used as the scale": lambda u, v, s: _clip_loss(u, v, s, exp=False),
    "sum of the two directions": lambda u, v, s: _clip_loss(u, v, s, mean=False),
    "normalised over the batch (dim 0)": lambda u, v, s: _clip_loss(u, v, s, norm_dim=0),
    "[held] CLIP's initial scale 1 / 0.07 hard-coded":
        lambda u, v, s: _clip_loss(u, v, s, scale=1 / 0.07),
    "[grad] math.exp(log_scale): a float, no gradient to the scale":
        lambda u, v, s: _clip_loss(u, v, s, scale=math.exp(s)),
    "[grad] returns a Python float": lambda u, v, s: _clip_loss(u, v, s).item(),
    "[alias] normalises the embeddings in place": _in_place,
    "[dtype] similarities in float32":
        lambda u, v, s: _clip_loss(u, v, s, dtype=torch.float32).to(u.dtype),
}
ALTERNATIVES = {"logits.T written as text @ image.T": _text_by_image,
                "norms divided by hand, log_softmax diagonals": _log_softmax}

PROPS("""matches the reference (two values of log_scale)

      the target of row i is column i, the diagonal; the scale is the exponential of log_scale;
      the loss is the mean of the two directions, not their sum

      code: targets torch.arange(B); halve the sum of the two cross-entropies""",
      close("random", "scale1"))

PROPS("""matches the reference for embeddings of lengths far from 1 (thousands, thousandths)

      each embedding is divided by its own length, whatever it is (thousands or thousandths),
      before the scaled cosines are formed

      code: F.normalize(..., dim=-1), out of place: no /= on the inputs""",
      close("large_norms", atol=1e-5))

PROPS("""matches the reference in float64 (an odd batch, another width, another scale)

      the same loss in the inputs' dtype; gradients reach both embeddings and log_scale

      code: no .float() and no .item(); math.exp of log_scale gives a float without gradient""",
      close("float64", atol=1e-12, rtol=1e-10))

EXERCISE = exercise(globals(), points=3, summary="CLIP's symmetric cross-entropy",
                    reread="5. A tiny CLIP")
