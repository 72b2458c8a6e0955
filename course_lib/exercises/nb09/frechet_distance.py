"""Exercise `frechet_distance` (notebook 09): squared Frechet distance between two Gaussians."""
from __future__ import annotations

import torch

from course_lib import metrics
from course_lib.checking import Case, Props, close, exercise, is_zero
from course_lib.exercises.common import gen, pick
from course_lib.exercises.nb09.probes import value


# <solution cell>
def frechet_distance(mu_a: torch.Tensor, cov_a: torch.Tensor, mu_b: torch.Tensor,
                     cov_b: torch.Tensor) -> torch.Tensor:
    """The squared Frechet distance d^2 of section 2 between N(mu_a, cov_a) and N(mu_b, cov_b).
    mu: (d,), cov: (d, d) positive semi-definite, float64. Returns a 0-dim float64 tensor."""
    ### BEGIN SOLUTION
    s = metrics.sqrtm_psd(cov_a)
    m = s @ cov_b @ s                                # symmetric, up to round-off
    cross = torch.linalg.eigvalsh((m + m.T) / 2).clamp(min=0).sqrt().sum()
    return ((mu_a - mu_b) ** 2).sum() + cov_a.trace() + cov_b.trace() - 2 * cross
    ### END SOLUTION
# </solution cell>


def _spd(d, g, rank=None):
    a = torch.randn(d, rank or d, generator=g, dtype=torch.float64)
    return a @ a.T / d + (0 if rank else 0.1) * torch.eye(d, dtype=torch.float64)


def cases() -> dict[str, Case]:
    g = gen(90)
    mu_a, mu_b = (torch.randn(5, generator=g, dtype=torch.float64) for _ in range(2))
    cov_a, cov_b = _spd(5, g), _spd(5, g)                    # full and not commuting
    diag_a = torch.diag(torch.rand(5, generator=g, dtype=torch.float64) + 0.2)
    diag_b = torch.diag(torch.rand(5, generator=g, dtype=torch.float64) + 0.2)
    low_a, low_b = _spd(5, g, rank=3), _spd(5, g, rank=2)    # fewer samples than features
    # near-identical Gaussians, of rank-deficient covariance: C_a C_b is near-singular and
    # round-off puts tiny negative eigenvalues where the exact ones are 0
    h = gen(190)
    mu_n = torch.randn(6, generator=h, dtype=torch.float64)
    cov_n = _spd(6, h, rank=pick(190, 2, 1, 3))
    shift = 1e-3 * torch.randn(6, generator=h, dtype=torch.float64)
    return {"random": Case((mu_a, cov_a, mu_b, cov_b)),
            "same": Case((mu_a, cov_a, mu_a.clone(), cov_a.clone())),
            "shift": Case((mu_a, cov_a, mu_b, cov_a.clone())),
            "diagonal": Case((mu_a, diag_a, mu_b, diag_b)),
            "low_rank": Case((mu_a, low_a, mu_b, low_b)),
            "near": Case((mu_n, cov_n, mu_n + shift, cov_n.clone()))}


PROPS = Props()


PROPS("""is 0 for identical Gaussians

      identical Gaussians are at distance 0: the means' term vanishes and the two traces cancel
      the cross term exactly; the result is the squared distance d squared, with no square root
      at the end

      code: return the sum of the four terms of the markdown's formula as it is, without
      .sqrt(); the cross term is the sum of the square roots of the eigenvalues""",
      is_zero("same", "d^2(N(mu, C), N(mu, C))", atol=1e-8))


@PROPS
def _shift(outs, refs):
    """equal covariances leave |mu_a - mu_b|^2

    with equal covariances the trace terms cancel and only the squared distance between the
    means is left; if this fails while the means' term is right, the cross term is off

    code: for cov_a equal to cov_b the cross term, before its factor 2, must equal
    cov_a.trace(): print both"""
    mu_a, _, mu_b, _ = cases()["shift"].args
    got, want = value(outs, "shift"), ((mu_a - mu_b) ** 2).sum().item()
    return abs(got - want) < 1e-8, f"got {got:.6f}, expected {want:.6f}"


@PROPS
def _diagonal(outs, refs):
    """diagonal covariances: the closed form

    for diagonal covariances the trace terms become the sum over i of the squared differences of
    the square roots of the diagonal entries (the markdown's closed form); a mismatch points at
    the cross term or its factor 2

    code: for diagonal C_a, C_b the matrix square root of their product is the diagonal of the
    square roots of a_i times b_i; subtract twice its trace"""
    mu_a, ca, mu_b, cb = cases()["diagonal"].args
    want = (((mu_a - mu_b) ** 2).sum() + ((ca.diagonal().sqrt() - cb.diagonal().sqrt()) ** 2
                                          ).sum()).item()
    got = value(outs, "diagonal")
    return abs(got - want) < 1e-8, (f"got {got:.6f}, expected |mu_a - mu_b|^2 + "
                                    f"sum (sqrt(a_i) - sqrt(b_i))^2 = {want:.6f}")


@PROPS
def _near(outs, refs):
    """near-identical Gaussians with a singular covariance: |mu_a - mu_b|^2, not NaN

    round-off makes some eigenvalues of a singular product slightly negative, and their square
    root is NaN; their exact value is 0

    code: clamp the eigenvalues with .clamp(min=0) before .sqrt()"""
    mu_a, _, mu_b, _ = cases()["near"].args
    got, want = value(outs, "near"), ((mu_a - mu_b) ** 2).sum().item()
    return abs(got - want) < 1e-6, f"got {got:.3e}, expected {want:.3e} (within 1e-6)"


def _fd(mu_a, cov_a, mu_b, cov_b, cross="ref", two=2.0, root=False):
    if cross == "ref":
        s = metrics.sqrtm_psd(cov_a)
        tr = torch.linalg.eigvalsh(s @ cov_b @ s).clamp(min=0).sqrt().sum()
    elif cross == "no clamp":
        s = metrics.sqrtm_psd(cov_a)
        tr = torch.linalg.eigvalsh(s @ cov_b @ s).sqrt().sum()
    elif cross == "elementwise":
        tr = (cov_a * cov_b).clamp(min=0).sqrt().trace()
    elif cross == "float32":
        s = metrics.sqrtm_psd(cov_a.float()).to(cov_a.dtype)
        tr = torch.linalg.eigvalsh(s @ cov_b @ s).clamp(min=0).sqrt().sum()
    elif cross == "product of roots":
        tr = (metrics.sqrtm_psd(cov_a) @ metrics.sqrtm_psd(cov_b)).trace()
    else:  # eigh on the non-symmetric product reads only its lower triangle
        tr = torch.linalg.eigvalsh(cov_a @ cov_b).clamp(min=0).sqrt().sum()
    d2 = ((mu_a - mu_b) ** 2).sum() + cov_a.trace() + cov_b.trace() - two * tr
    return d2.clamp(min=0).sqrt() if root else d2


def _scipy(mu_a, cov_a, mu_b, cov_b):
    import scipy.linalg
    root = scipy.linalg.sqrtm((cov_a @ cov_b).cpu().numpy())     # as pytorch-fid does
    return (((mu_a - mu_b) ** 2).sum() + cov_a.trace() + cov_b.trace()
            - 2 * torch.from_numpy(root.real).to(cov_a.device).trace())


BUGS = {
    "element-wise square root of C_a * C_b": lambda *a: _fd(*a, cross="elementwise"),
    "C_a^(1/2) C_b^(1/2) instead of (C_a C_b)^(1/2)":
        lambda *a: _fd(*a, cross="product of roots"),
    "eigh on the non-symmetric C_a C_b": lambda *a: _fd(*a, cross="eigh of product"),
    "no clamp before the square root": lambda *a: _fd(*a, cross="no clamp"),
    "forgot the 2": lambda *a: _fd(*a, two=1.0),
    "returns the distance, not its square": lambda *a: _fd(*a, root=True),
    "[dtype] matrix square root in float32": lambda *a: _fd(*a, cross="float32"),
}
ALTERNATIVES = {
    "eigenvalues of C_a C_b": lambda mu_a, cov_a, mu_b, cov_b: (
        ((mu_a - mu_b) ** 2).sum() + cov_a.trace() + cov_b.trace()
        - 2 * torch.linalg.eigvals(cov_a @ cov_b).sqrt().real.sum()),
    "scipy.linalg.sqrtm": _scipy,
    "S C_b S without symmetrising": lambda *a: _fd(*a),
}

PROPS("""matches the reference on full and on rank-deficient covariances

      the cross term needs a matrix square root of the product C_a C_b, not an element-wise one,
      nor the product of the two roots; C_a C_b is not symmetric, so its eigenvalues come from
      the symmetric S C_b S with S the root of C_a, as in the markdown

      code: S = metrics.sqrtm_psd(cov_a); torch.linalg.eigvalsh of S @ cov_b @ S; eigvalsh reads
      only one triangle, so never give it cov_a @ cov_b""",
      close("random", "low_rank", atol=1e-6))

EXERCISE = exercise(globals(), points=3, summary="squared Frechet distance between two Gaussians",
                    reread="2. The Fréchet distance between two Gaussians")
