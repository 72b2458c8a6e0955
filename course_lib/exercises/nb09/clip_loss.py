"""Exercise `clip_loss` (notebook 09): CLIP's symmetric cross-entropy."""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from course_lib.checking import Case, Props, close, exercise
from course_lib.exercises.common import gen
from course_lib.exercises.nb09.probes import embeddings, value


# <solution cell>
def clip_loss(image_emb: torch.Tensor, text_emb: torch.Tensor, log_scale) -> torch.Tensor:
    """Symmetric cross-entropy over the (B, B) matrix of scaled cosine similarities."""
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
    s = torch.tensor(math.log(10.0))
    lengths = torch.rand(6, 1, generator=g) * 3 + 0.5
    return {"random": Case((u, v, s)), "swapped": Case((v, u, s)),
            "lengths": Case((u * lengths, v / lengths, s)),
            "scale1": Case((u, v, torch.tensor(0.0))),
            "aligned": Case((u, u + 0.01 * v, torch.tensor(math.log(100.0))))}


PROPS = Props()


@PROPS("symmetric: images and texts play the same role",
       "average the cross-entropy over rows (each image picks its caption) and over "
       "columns (each caption picks its image): F.cross_entropy(L, i) and of L.T")
def _symmetric(outs, refs):
    a, b = value(outs, "random"), value(outs, "swapped")
    return abs(a - b) < 1e-5, f"loss(images, texts) = {a:.5f}, loss(texts, images) = {b:.5f}"


@PROPS("only directions count, not lengths",
       "normalise both embeddings to unit length (F.normalize(..., dim=-1)) first")
def _lengths(outs, refs):
    a, b = value(outs, "random"), value(outs, "lengths")
    return abs(a - b) < 1e-4, f"loss {a:.5f}; with each embedding rescaled {b:.5f}"


@PROPS("image i equal to caption i at s = 100 gives a loss near 0",
       "the logits are exp(log_scale) times the cosine similarities")
def _aligned(outs, refs):
    got = value(outs, "aligned")
    return 0 <= got < 0.05, f"loss {got:.4f}, expected close to 0"


def _clip_loss(u, v, log_scale, directions=2, normalise=True, exp=True, mean=True):
    if normalise:
        u, v = F.normalize(u, dim=-1), F.normalize(v, dim=-1)
    logits = (log_scale.exp() if exp else log_scale) * u @ v.T
    t = torch.arange(len(u))
    if directions == 1:
        return F.cross_entropy(logits, t)
    both = F.cross_entropy(logits, t) + F.cross_entropy(logits.T, t)
    return both / 2 if mean else both


def _text_by_image(u, v, s):
    u, v = F.normalize(u, dim=-1), F.normalize(v, dim=-1)
    t = torch.arange(len(u))
    return (F.cross_entropy(s.exp() * u @ v.T, t) + F.cross_entropy(s.exp() * v @ u.T, t)) / 2


BUGS = {
    "image-to-text direction only": lambda u, v, s: _clip_loss(u, v, s, directions=1),
    "embeddings not normalised": lambda u, v, s: _clip_loss(u, v, s, normalise=False),
    "log_scale used as the scale": lambda u, v, s: _clip_loss(u, v, s, exp=False),
    "sum of the two directions": lambda u, v, s: _clip_loss(u, v, s, mean=False),
}
ALTERNATIVES = {"logits.T written as text @ image.T": _text_by_image}

PROPS("matches the reference (s = 10 and s = 1)",
      "s = exp(log_scale); the target of row i is i (torch.arange(B)); the mean of "
      "the two directions, not their sum",
      close("random", "scale1"))

EXERCISE = exercise(globals(), points=3, summary="CLIP's symmetric cross-entropy")
