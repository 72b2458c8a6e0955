"""Exercise `fid` (notebook 09): FID, the Frechet distance between two fitted feature sets."""
from __future__ import annotations

import torch

from course_lib.checking import Case, Props, close, exercise
from course_lib.exercises.common import gen
from course_lib.exercises.nb09.frechet_distance import frechet_distance
from course_lib.exercises.nb09.probes import value


# <solution cell>
def fid(features_a: torch.Tensor, features_b: torch.Tensor) -> torch.Tensor:
    """Frechet distance between Gaussians fitted to two feature sets (rows are samples)."""
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
    c = torch.tensor([1.0, -2.0, 0.5, 0.0], dtype=torch.float64)
    return {"random": Case((a, b)), "self": Case((a, a.clone())), "shift": Case((a, a + c)),
            "few": Case((a[:6], b[:5]))}


PROPS = Props()


@PROPS("a set against itself gives 0",
       "fit (mean, covariance) to each set, then the Frechet distance between them")
def _self(outs, refs):
    got = value(outs, "self")
    return abs(got) < 1e-8, f"FID of a set against itself = {got:.2e}, expected 0"


@PROPS("moving every feature by c adds |c|^2",
       "the mean is over the samples (dim 0), one value per feature")
def _shift(outs, refs):
    got = value(outs, "shift")
    return abs(got - 5.25) < 1e-8, (f"FID(f, f + c) = {got:.6f}, expected |c|^2 = 5.25 (the "
                                    "covariance does not change when every sample moves by c)")


def _fid(a, b, correction=1, mean_dim=0, cov_t=True, root=False):
    stats = [(f.mean(mean_dim), torch.cov(f.T if cov_t else f, correction=correction))
             for f in (a.double(), b.double())]
    d2 = frechet_distance(*stats[0], *stats[1])
    return d2.clamp(min=0).sqrt() if root else d2


def _centred_by_hand(a, b):
    return frechet_distance(a.mean(0), (a - a.mean(0)).T @ (a - a.mean(0)) / (len(a) - 1),
                            b.mean(0), (b - b.mean(0)).T @ (b - b.mean(0)) / (len(b) - 1))


BUGS = {
    "covariance divides by N": lambda a, b: _fid(a, b, correction=0),
    "covariance of the samples, not the features": lambda a, b: _fid(a, b, cov_t=False),
    "mean over the features": lambda a, b: _fid(a, b, mean_dim=1),
    "square root of FID": lambda a, b: _fid(a, b, root=True),
}
ALTERNATIVES = {"centred features by hand": _centred_by_hand}

PROPS("matches the reference (sets of 40 and 25, and of 6 and 5)",
      "covariance of the features (rows are samples): torch.cov(f.T), which divides "
      "by N - 1, as numpy.cov and pytorch-fid do; the result is squared, no sqrt",
      close("random", "few", atol=1e-6))

EXERCISE = exercise(globals(), points=2, summary="FID from two sets of features")
