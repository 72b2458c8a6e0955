"""Exercise `mmd2_unbiased` (notebook 09): unbiased MMD^2 with KID's polynomial kernel."""
from __future__ import annotations

import torch

from course_lib.checking import Case, Props, close, exercise
from course_lib.exercises.common import gen, pick
from course_lib.exercises.nb09.probes import value


# <solution cell>
def mmd2_unbiased(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """The unbiased MMD^2 estimate of section 4 with KID's kernel, between x (m, d) and
    y (n, d), m and n at least 2. Returns a 0-dim tensor."""
    ### BEGIN SOLUTION
    d, m, n = x.shape[1], len(x), len(y)
    k_xx, k_yy, k_xy = ((x @ x.T / d + 1) ** 3, (y @ y.T / d + 1) ** 3, (x @ y.T / d + 1) ** 3)
    within_x = (k_xx.sum() - k_xx.diagonal().sum()) / (m * (m - 1))
    within_y = (k_yy.sum() - k_yy.diagonal().sum()) / (n * (n - 1))
    return within_x + within_y - 2 * k_xy.mean()
    ### END SOLUTION
# </solution cell>


def cases() -> dict[str, Case]:
    g = gen(92)
    x = torch.randn(30, 4, generator=g, dtype=torch.float64)
    y = 1.3 * torch.randn(20, 4, generator=g, dtype=torch.float64) + 0.4
    h = gen(192)
    # the smallest sets the unbiased estimate allows: m (m - 1) = 2 pairs
    m, n = pick(192, (2, 3), (2, 2), (3, 2))
    d = pick(193, 5, 3, 7)
    x2 = torch.randn(m, d, generator=h, dtype=torch.float64)
    y2 = torch.randn(n, d, generator=h, dtype=torch.float64) + 0.5
    # float32, odd sizes
    x7, y4 = torch.randn(7, d, generator=h), 0.8 * torch.randn(4, d, generator=h) - 0.3
    return {"random": Case((x, y)), "swapped": Case((y, x)), "same": Case((x, x.clone())),
            "pairs": Case((x2, y2)), "float32": Case((x7, y4))}


PROPS = Props()


@PROPS
def _symmetric(outs, refs):
    """symmetric in x and y

    swapping the sets must not change the estimate: each within-set average has its own sample
    count, and the cross average is subtracted twice

    code: subtract 2 times the mean of the (m, n) cross kernel matrix"""
    a, b = value(outs, "random"), value(outs, "swapped")
    return abs(a - b) < 1e-8, f"mmd2(x, y) = {a:.6f}, mmd2(y, x) = {b:.6f}"


@PROPS
def _same(outs, refs):
    """the same set twice gives a negative value (the unbiased estimate can)

    the unbiased estimate leaves each sample's kernel with itself out of the within-set
    averages, which then average over the ordered pairs of different samples, m times m minus
    one of them; the cross average keeps every pair

    code: subtract the diagonal's sum (.diagonal().sum()) from the kernel matrix's sum, then
    divide by m * (m - 1)"""
    got, want = value(outs, "same"), value(refs, "same")
    return got < -1e-3, f"mmd2(x, x) = {got:.4f}, expected {want:.4f}"


def _mmd(x, y, diag=False, d_scale=True, degree=3, cross=2.0, square_norm=False,
         one_count=False, d=None):
    def k(p, q):
        return (p @ q.T / ((d or p.shape[1]) if d_scale else 1) + 1) ** degree
    m, n = len(x), len(y)
    if one_count:
        n = m
    kxx, kyy = k(x, x), k(y, y)
    if diag:
        within = kxx.mean() + kyy.mean()
    else:
        den_x, den_y = (m * m, n * n) if square_norm else (m * (m - 1), n * (n - 1))
        within = ((kxx.sum() - kxx.diagonal().sum()) / den_x
                  + (kyy.sum() - kyy.diagonal().sum()) / den_y)
    return within - cross * k(x, y).mean()


BUGS = {
    "biased: keeps k(x_i, x_i)": lambda x, y: _mmd(x, y, diag=True),
    "drops the diagonal but divides by m^2": lambda x, y: _mmd(x, y, square_norm=True),
    "kernel without / d": lambda x, y: _mmd(x, y, d_scale=False),
    "kernel squared, not cubed": lambda x, y: _mmd(x, y, degree=2),
    "cross term not doubled": lambda x, y: _mmd(x, y, cross=1.0),
    "[held] one sample count for both sets": lambda x, y: _mmd(x, y, one_count=True),
    "[held] d = 64 hard-coded (the feature net's size)": lambda x, y: _mmd(x, y, d=64),
    "[dtype] kernels in float32, cast back":
        lambda x, y: _mmd(x.float(), y.float()).to(x.dtype),
}
ALTERNATIVES = {"masks for i != j": lambda x, y: (
    ((x @ x.T / x.shape[1] + 1) ** 3)[~torch.eye(len(x), dtype=torch.bool)].mean()
    + ((y @ y.T / y.shape[1] + 1) ** 3)[~torch.eye(len(y), dtype=torch.bool)].mean()
    - 2 * ((x @ y.T / x.shape[1] + 1) ** 3).mean())}

PROPS("""matches the reference (m = 30, n = 20)

      the kernel is the cube of one plus the dot product divided by d, the number of features;
      each within-set sum is averaged over its own ordered pairs, the cross sum over all m times
      n pairs

      code: the three kernel matrices from x @ x.T, y @ y.T and x @ y.T, divided by d =
      x.shape[1], plus 1, to the power 3""",
      close("random", atol=1e-6))

PROPS("""matches the reference for the smallest sets (2 samples), in float64

      with 2 samples there are just 2 ordered pairs of different samples; x and y may have
      different sizes, and d is read from the features

      code: m = len(x) and n = len(y) separately; d = x.shape[1], not 64 written in""",
      close("pairs", atol=1e-12, rtol=1e-10))

PROPS("""matches the reference in float32 (7 and 4 samples)

      the same estimate in the inputs' dtype

      code: no .float() or .double() casts inside""",
      close("float32", atol=1e-4))

EXERCISE = exercise(globals(), points=3, summary="unbiased MMD^2 with KID's polynomial kernel",
                    reread="4. Small samples: FID's bias, and KID")
