"""Checks for notebook 09 (measuring generative models): the Frechet distance between
Gaussians, FID from features, the unbiased MMD^2 behind KID, CLIP's contrastive loss and the
CLIP score."""
from __future__ import annotations

import math

import torch

from course_lib import metrics
from course_lib.checking import Case, Exercise, Prop, close

NB = "09_metrics"


def _gen(seed):
    return torch.Generator().manual_seed(seed)


def _spd(d, g, rank=None):
    a = torch.randn(d, rank or d, generator=g, dtype=torch.float64)
    return a @ a.T / d + (0 if rank else 0.1) * torch.eye(d, dtype=torch.float64)


def _value(outs, name):
    return float(torch.as_tensor(outs[name].value))


# ------------------------------------------------------------------- frechet_distance

def _fd_cases():
    g = _gen(90)
    mu_a, mu_b = (torch.randn(5, generator=g, dtype=torch.float64) for _ in range(2))
    cov_a, cov_b = _spd(5, g), _spd(5, g)                    # full and not commuting
    diag_a = torch.diag(torch.rand(5, generator=g, dtype=torch.float64) + 0.2)
    diag_b = torch.diag(torch.rand(5, generator=g, dtype=torch.float64) + 0.2)
    low_a, low_b = _spd(5, g, rank=3), _spd(5, g, rank=2)    # fewer samples than features
    return {"random": Case((mu_a, cov_a, mu_b, cov_b)),
            "same": Case((mu_a, cov_a, mu_a.clone(), cov_a.clone())),
            "shift": Case((mu_a, cov_a, mu_b, cov_a.clone())),
            "diagonal": Case((mu_a, diag_a, mu_b, diag_b)),
            "low_rank": Case((mu_a, low_a, mu_b, low_b))}


def _fd_same(outs, refs):
    got = _value(outs, "same")
    return abs(got) < 1e-8, f"d^2(N(mu, C), N(mu, C)) = {got:.2e}, expected 0"


def _fd_shift(outs, refs):
    mu_a, _, mu_b, _ = _fd_cases()["shift"].args
    got, want = _value(outs, "shift"), ((mu_a - mu_b) ** 2).sum().item()
    return abs(got - want) < 1e-8, f"got {got:.6f}, expected {want:.6f}"


def _fd_diagonal(outs, refs):
    mu_a, ca, mu_b, cb = _fd_cases()["diagonal"].args
    want = (((mu_a - mu_b) ** 2).sum() + ((ca.diagonal().sqrt() - cb.diagonal().sqrt()) ** 2
                                          ).sum()).item()
    got = _value(outs, "diagonal")
    return abs(got - want) < 1e-8, (f"got {got:.6f}, expected |mu_a - mu_b|^2 + "
                                    f"sum (sqrt(a_i) - sqrt(b_i))^2 = {want:.6f}")


# ------------------------------------------------------------------- fid

def _fid_cases():
    g = _gen(91)
    mix = torch.randn(4, 4, generator=g, dtype=torch.float64)
    a = torch.randn(40, 4, generator=g, dtype=torch.float64) @ mix
    b = torch.randn(25, 4, generator=g, dtype=torch.float64) @ mix.T + 0.5
    c = torch.tensor([1.0, -2.0, 0.5, 0.0], dtype=torch.float64)
    return {"random": Case((a, b)), "self": Case((a, a.clone())), "shift": Case((a, a + c)),
            "few": Case((a[:6], b[:5]))}


def _fid_self(outs, refs):
    got = _value(outs, "self")
    return abs(got) < 1e-8, f"FID of a set against itself = {got:.2e}, expected 0"


def _fid_shift(outs, refs):
    got = _value(outs, "shift")
    return abs(got - 5.25) < 1e-8, (f"FID(f, f + c) = {got:.6f}, expected |c|^2 = 5.25 (the "
                                    "covariance does not change when every sample moves by c)")


# ------------------------------------------------------------------- mmd2_unbiased

def _mmd_cases():
    g = _gen(92)
    x = torch.randn(30, 4, generator=g, dtype=torch.float64)
    y = 1.3 * torch.randn(20, 4, generator=g, dtype=torch.float64) + 0.4
    return {"random": Case((x, y)), "swapped": Case((y, x)), "same": Case((x, x.clone()))}


def _mmd_symmetric(outs, refs):
    a, b = _value(outs, "random"), _value(outs, "swapped")
    return abs(a - b) < 1e-8, f"mmd2(x, y) = {a:.6f}, mmd2(y, x) = {b:.6f}"


def _mmd_same(outs, refs):
    got, want = _value(outs, "same"), _value(refs, "same")
    return got < -1e-3, f"mmd2(x, x) = {got:.4f}, expected {want:.4f}"


# ------------------------------------------------------------------- clip_loss

def _emb(g, b=6, d=8):
    return torch.randn(b, d, generator=g), torch.randn(b, d, generator=g)


def _cl_cases():
    g = _gen(93)
    u, v = _emb(g)
    s = torch.tensor(math.log(10.0))
    lengths = torch.rand(6, 1, generator=g) * 3 + 0.5
    return {"random": Case((u, v, s)), "swapped": Case((v, u, s)),
            "lengths": Case((u * lengths, v / lengths, s)),
            "scale1": Case((u, v, torch.tensor(0.0))),
            "aligned": Case((u, u + 0.01 * v, torch.tensor(math.log(100.0))))}


def _cl_symmetric(outs, refs):
    a, b = _value(outs, "random"), _value(outs, "swapped")
    return abs(a - b) < 1e-5, f"loss(images, texts) = {a:.5f}, loss(texts, images) = {b:.5f}"


def _cl_lengths(outs, refs):
    a, b = _value(outs, "random"), _value(outs, "lengths")
    return abs(a - b) < 1e-4, f"loss {a:.5f}; with each embedding rescaled {b:.5f}"


def _cl_aligned(outs, refs):
    got = _value(outs, "aligned")
    return 0 <= got < 0.05, f"loss {got:.4f}, expected close to 0"


# ------------------------------------------------------------------- clip_score

def _cs_cases():
    g = _gen(94)
    u, v = _emb(g, 5)
    lengths = torch.rand(5, 1, generator=g) * 3 + 0.5
    return {"random": Case((u, v)), "same": Case((u, 2 * u)), "opposite": Case((u, -u)),
            "lengths": Case((u * lengths, v))}


def _cs_same(outs, refs):
    got = torch.as_tensor(outs["same"].value)
    ok = bool(((got - 100).abs() < 1e-3).all())
    return ok, f"same directions: {[round(x, 2) for x in got.tolist()]}, expected 100 each"


def _cs_opposite(outs, refs):
    got = torch.as_tensor(outs["opposite"].value)
    ok = bool((got.abs() < 1e-5).all())
    return ok, f"opposite directions: {[round(x, 2) for x in got.tolist()]}, expected 0 each"


EXERCISES = [
    Exercise(
        id="frechet_distance", notebook=NB, points=3, reference=metrics.frechet_distance,
        cases=_fd_cases, summary="squared Frechet distance between two Gaussians",
        props=[
            Prop("is 0 for identical Gaussians", _fd_same,
                 "d^2 = |mu_a - mu_b|^2 + tr(C_a) + tr(C_b) - 2 tr((C_a C_b)^(1/2)), "
                 "the squared distance (no square root at the end)"),
            Prop("equal covariances leave |mu_a - mu_b|^2", _fd_shift,
                 "with C_a = C_b the trace terms cancel: tr(C) + tr(C) - 2 tr(C) = 0"),
            Prop("diagonal covariances: the closed form", _fd_diagonal,
                 "for diagonal matrices (C_a C_b)^(1/2) = diag(sqrt(a_i b_i)); is the 2 there?"),
            Prop("matches the reference on full and on rank-deficient covariances",
                 close("random", "low_rank", atol=1e-6),
                 "(C_a C_b)^(1/2) is a matrix square root, not an element-wise one, and "
                 "C_a^(1/2) C_b^(1/2) differs from it. C_a C_b is not symmetric, so eigh "
                 "cannot take it; use the eigenvalues of S C_b S, S = C_a^(1/2) (symmetric), "
                 "clamped at 0 before the square root"),
        ],
    ),
    Exercise(
        id="fid", notebook=NB, points=2, reference=metrics.fid, cases=_fid_cases,
        summary="FID from two sets of features",
        props=[
            Prop("a set against itself gives 0", _fid_self,
                 "fit (mean, covariance) to each set, then the Frechet distance between them"),
            Prop("moving every feature by c adds |c|^2", _fid_shift,
                 "the mean is over the samples (dim 0), one value per feature"),
            Prop("matches the reference (sets of 40 and 25, and of 6 and 5)",
                 close("random", "few", atol=1e-6),
                 "covariance of the features (rows are samples): torch.cov(f.T), which divides "
                 "by N - 1, as numpy.cov and pytorch-fid do; the result is squared, no sqrt"),
        ],
    ),
    Exercise(
        id="mmd2_unbiased", notebook=NB, points=3, reference=metrics.mmd2_unbiased,
        cases=_mmd_cases, summary="unbiased MMD^2 with KID's polynomial kernel",
        props=[
            Prop("symmetric in x and y", _mmd_symmetric,
                 "both within-set means count, and the cross mean enters twice: - 2 mean k(x, y)"),
            Prop("the same set twice gives a negative value (the unbiased estimate can)",
                 _mmd_same, "leave the diagonal k(x_i, x_i) out of the within-set means and "
                 "divide by m (m - 1); keep every pair in the cross mean"),
            Prop("matches the reference (m = 30, n = 20)", close("random", atol=1e-6),
                 "k(x, y) = (x . y / d + 1)^3 with d the number of features; within x divide "
                 "by m (m - 1), within y by n (n - 1), the cross sum by m n"),
        ],
    ),
    Exercise(
        id="clip_loss", notebook=NB, points=3, reference=metrics.clip_loss, cases=_cl_cases,
        summary="CLIP's symmetric cross-entropy",
        props=[
            Prop("symmetric: images and texts play the same role", _cl_symmetric,
                 "average the cross-entropy over rows (each image picks its caption) and over "
                 "columns (each caption picks its image): F.cross_entropy(L, i) and of L.T"),
            Prop("only directions count, not lengths", _cl_lengths,
                 "normalise both embeddings to unit length (F.normalize(..., dim=-1)) first"),
            Prop("image i equal to caption i at s = 100 gives a loss near 0", _cl_aligned,
                 "the logits are exp(log_scale) times the cosine similarities"),
            Prop("matches the reference (s = 10 and s = 1)", close("random", "scale1"),
                 "s = exp(log_scale); the target of row i is i (torch.arange(B)); the mean of "
                 "the two directions, not their sum"),
        ],
    ),
    Exercise(
        id="clip_score", notebook=NB, points=2, reference=metrics.clip_score, cases=_cs_cases,
        summary="CLIP score of each image against its own caption",
        props=[
            Prop("same directions give 100", _cs_same,
                 "100 times the cosine similarity of each (image, caption) pair"),
            Prop("opposite directions give 0", _cs_opposite,
                 "negative cosines are clamped to 0: 100 * max(cos, 0)"),
            Prop("matches the reference, whatever the embeddings' lengths",
                 close("random", "lengths", atol=1e-4),
                 "one score per pair (row i with row i), not the B x B matrix; divide by both "
                 "lengths (F.cosine_similarity(u, v, dim=-1))"),
        ],
    ),
]
