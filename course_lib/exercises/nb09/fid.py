"""Exercise `fid` (notebook 09): FID, the Frechet distance between two fitted feature sets."""
from __future__ import annotations

import torch

from course_lib.checking import Case, Props, close, exercise, is_zero
from course_lib.exercises.common import gen, pick
from course_lib.exercises.nb09.frechet_distance import frechet_distance
from course_lib.exercises.nb09.probes import value


# <solution cell>
def fid(features_a: torch.Tensor, features_b: torch.Tensor) -> torch.Tensor:
    """FID of section 3 between features_a (N, d) and features_b (M, d), rows are images.
    Returns a 0-dim float64 tensor."""
    ### BEGIN SOLUTION
    a, b = features_a.double(), features_b.double()
    return frechet_distance(a.mean(0), torch.cov(a.T), b.mean(0), torch.cov(b.T))
    ### END SOLUTION
# </solution cell>


def cases() -> dict[str, Case]:
    g = gen(91)
    mix = torch.randn(4, 4, generator=g, dtype=torch.float64)
    a = torch.randn(40, 4, generator=g, dtype=torch.float64) @ mix
    b = torch.randn(25, 4, generator=g, dtype=torch.float64) @ mix.T + 0.5
    c = torch.tensor(pick(91, [1.0, -2.0, 0.5, 0.0], [0.5, 0.5, -1.0, 2.0], [-1.5, 0.0, 1.0, 1.0]),
                     dtype=torch.float64)
    m, n = pick(92, (6, 5), (5, 7), (4, 6), (3, 3))
    # near-identical sets, fewer samples than features: both covariances are singular
    h = gen(191)
    k = pick(191, 5, 3, 4)
    near = torch.randn(k, 6, generator=h, dtype=torch.float64) * 2 + 1
    return {"random": Case((a, b)), "self": Case((a, a.clone())), "shift": Case((a, a + c)),
            "few": Case((a[:m], b[:n])),
            "near": Case((near, near + 1e-9 * torch.randn(k, 6, generator=h,
                                                          dtype=torch.float64)))}


PROPS = Props()


PROPS("""a set against itself gives 0

      FID fits a Gaussian (mean and covariance) to each set and takes the Frechet distance
      between the two: a set against itself is at distance 0

      code: the mean over dim 0 and torch.cov of the transposed features, in float64, then
      frechet_distance of the two pairs""",
      is_zero("self", "FID of a set against itself", atol=1e-8))


@PROPS
def _shift(outs, refs):
    """moving every feature by c adds |c|^2

    the mean is over the samples, one value per feature: moving every sample by c moves the mean
    by c and leaves the covariance as it was

    code: features.mean(0), not .mean(1)"""
    a, b = cases()["shift"].args
    got, want = value(outs, "shift"), ((b - a)[0] ** 2).sum().item()
    return abs(got - want) < 1e-8, (f"FID(f, f + c) = {got:.6f}, expected |c|^2 = {want:.6g} "
                                    "(the covariance does not change when every sample "
                                    "moves by c)")


@PROPS
def _near(outs, refs):
    """near-identical small sets (fewer samples than features) give about 0

    with fewer samples than features both covariances are singular, and two sets 1e-9 apart must
    still be about 0 apart; the Frechet distance used must cope with singular covariances

    code: call frechet_distance (metrics.frechet_distance in the notebook), which clamps
    negative eigenvalues, on float64 statistics"""
    got = value(outs, "near")
    return abs(got) < 1e-5, f"FID of two sets 1e-9 apart = {got:.2e}, expected about 0"


def _fid(a, b, correction=1, mean_dim=0, cov_t=True, root=False, dtype=torch.float64):
    stats = [(f.mean(mean_dim), torch.cov(f.T if cov_t else f, correction=correction))
             for f in (a.to(dtype), b.to(dtype))]
    d2 = frechet_distance(*stats[0], *stats[1])
    return d2.clamp(min=0).sqrt() if root else d2


def _centred_by_hand(a, b):
    return frechet_distance(a.mean(0), (a - a.mean(0)).T @ (a - a.mean(0)) / (len(a) - 1),
                            b.mean(0), (b - b.mean(0)).T @ (b - b.mean(0)) / (len(b) - 1))


def _one_count(a, b):
    n = len(a)
    return frechet_distance(a.mean(0), (a - a.mean(0)).T @ (a - a.mean(0)) / (n - 1),
                            b.mean(0), (b - b.mean(0)).T @ (b - b.mean(0)) / (n - 1))


def _centres_in_place(features_a, features_b):
    a, b = features_a.double(), features_b.double()   # the same tensors when float64
    mu_a, mu_b = a.mean(0), b.mean(0)
    a -= mu_a
    b -= mu_b
    return frechet_distance(mu_a, a.T @ a / (len(a) - 1), mu_b, b.T @ b / (len(b) - 1))


BUGS = {
    "covariance divides by N": lambda a, b: _fid(a, b, correction=0),
    "covariance of the samples, not the features": lambda a, b: _fid(a, b, cov_t=False),
    "mean over the features": lambda a, b: _fid(a, b, mean_dim=1),
    "square root of FID": lambda a, b: _fid(a, b, root=True),
    "[held] one sample count for both sets": _one_count,
    "[alias] centres the features in place": _centres_in_place,
    "[dtype] fits the Gaussians in float32": lambda a, b: _fid(a, b, dtype=torch.float32),
}
ALTERNATIVES = {"centred features by hand": _centred_by_hand}

PROPS("""matches the reference (sets of 40 and 25, and two small sets)

      the covariance is between features (one variable per feature, the samples are the
      observations) and divides by N minus one, each set with its own N, as numpy and
      pytorch-fid do; FID is the squared distance, with no square root

      code: torch.cov wants variables in rows: give it the transposed features (its default
      correction=1); .double() first; no .sqrt() at the end""",
      close("random", "few", atol=1e-6))

EXERCISE = exercise(globals(), points=2, summary="FID from two sets of features",
                    reread="3. FID")
