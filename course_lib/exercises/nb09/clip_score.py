"""Exercise `clip_score` (notebook 09): CLIP score of each image against its own caption."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from course_lib.checking import Case, Props, close, exercise
from course_lib.exercises.common import gen, pick
from course_lib.exercises.nb09.probes import embeddings


# <solution cell>
def clip_score(image_emb: torch.Tensor, text_emb: torch.Tensor) -> torch.Tensor:
    """The CLIP score of section 6 for each pair of rows of image_emb and text_emb, both
    (B, D) and not normalised. Returns (B,)."""
    ### BEGIN SOLUTION
    return 100 * F.cosine_similarity(image_emb, text_emb, dim=-1).clamp(min=0)
    ### END SOLUTION
# </solution cell>


def cases() -> dict[str, Case]:
    g = gen(94)
    u, v = embeddings(g, 5)
    lengths = torch.rand(5, 1, generator=g) * 3 + 0.5
    h = gen(194)
    u1, v1 = embeddings(h, 1, 8)
    ub, vb = embeddings(h, 4, 8)
    u64, v64 = embeddings(h, 7, pick(195, 3, 16, 5), dtype=torch.float64)
    return {"random": Case((u, v)), "same": Case((u, 2 * u)), "opposite": Case((u, -u)),
            "lengths": Case((u * lengths, v)),
            "one": Case((u1, v1 if (u1 * v1).sum() > 0 else -v1)),  # a batch of one, cos > 0
            "large_norms": Case((3e3 * ub, 1e-3 * vb)), "float64": Case((u64, v64))}


PROPS = Props()


@PROPS
def _same(outs, refs):
    """same directions give 100

    the score is 100 times the cosine similarity of an image with its own caption, so two
    embeddings pointing the same way score 100, whatever their lengths

    code: F.cosine_similarity along the features (dim=-1), one cosine per row pair"""
    got = torch.as_tensor(outs["same"].value)
    ok = bool(((got - 100).abs() < 1e-3).all())
    return ok, f"same directions: {[round(x, 2) for x in got.tolist()]}, expected 100 each"


@PROPS
def _opposite(outs, refs):
    """opposite directions give 0

    negative cosines are clipped at 0: a caption pointing away from its image scores 0, not a
    negative number

    code: .clamp(min=0) on the cosines"""
    got = torch.as_tensor(outs["opposite"].value)
    ok = bool((got.abs() < 1e-5).all())
    return ok, f"opposite directions: {[round(x, 2) for x in got.tolist()]}, expected 0 each"


def _cos(u, v):
    return F.cosine_similarity(u, v, dim=-1)


def _in_place(u, v):
    u /= u.norm(dim=-1, keepdim=True)
    v /= v.norm(dim=-1, keepdim=True)
    return 100 * (u * v).sum(-1).clamp(min=0)


BUGS = {
    "the B x B matrix": lambda u, v: 100 * (F.normalize(u, dim=-1) @ F.normalize(v, dim=-1).T
                                            ).clamp(min=0),
    "dot product, not cosine": lambda u, v: 100 * (u * v).sum(-1).clamp(min=0),
    "no clamp at 0": lambda u, v: 100 * _cos(u, v),
    "no factor 100": lambda u, v: _cos(u, v).clamp(min=0),
    "mean over the batch": lambda u, v: 100 * _cos(u, v).clamp(min=0).mean(),
    "divides by the lengths of the whole batch":
        lambda u, v: 100 * ((u * v).sum(-1) / (u.norm() * v.norm())).clamp(min=0),
    "[held] squeezed (a batch of one gives a 0-dim tensor)":
        lambda u, v: 100 * _cos(u, v).clamp(min=0).squeeze(),
    "[alias] normalises the embeddings in place": _in_place,
    "[dtype] cosines in float32": lambda u, v: 100 * _cos(u.float(), v.float()).clamp(min=0),
}
ALTERNATIVES = {"normalised rows, row-wise dot product": lambda u, v: 100 * (
    F.normalize(u, dim=1) * F.normalize(v, dim=1)).sum(1).clamp(min=0)}

PROPS("""matches the reference, whatever the embeddings' lengths

      one score per pair, row i with row i, not the B by B matrix of all pairs; each dot product
      is divided by the two rows' own lengths

      code: norms along dim=-1 (a .norm() without dim is the whole batch's); no in-place
      division of the inputs""",
      close("random", "lengths", "large_norms", atol=1e-4))

PROPS("""a batch of one gives one score, shape (1,)

      the result has shape (B,), B = 1 included

      code: no .squeeze()""",
      close("one", atol=1e-4))

PROPS("""matches the reference in float64

      the same score in the inputs' dtype

      code: no .float() casts""",
      close("float64", atol=1e-10, rtol=1e-10))

EXERCISE = exercise(globals(), points=2, summary="CLIP score of each image against its own caption",
                    reread="6. CLIP score")
