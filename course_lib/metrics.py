"""Measuring generative models: FID, KID and CLIP score.

Introduced in notebook 09. FID and KID compare two sets of images through the features of an
encoder (features.FeatureNet here, Inception-v3 in the literature); CLIP score compares each
image with its own caption through a CLIP model (clip.TinyCLIP here). Statistics in float64.
"""
from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F


@torch.no_grad()
def extract(encode: Callable[[torch.Tensor], torch.Tensor], images: torch.Tensor,
            batch_size: int = 500) -> torch.Tensor:
    """encode(images) in batches, e.g. FeatureNet.features: (N, 3, H, W) -> (N, d)."""
    return torch.cat([encode(batch) for batch in images.split(batch_size)])


def gaussian_stats(features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean (d,) and covariance (d, d) of features (N, d), in float64; the covariance divides
    by N - 1 like numpy.cov and pytorch-fid."""
    f = features.double()
    return f.mean(0), torch.cov(f.T)


def sqrtm_psd(a: torch.Tensor) -> torch.Tensor:
    """The symmetric square root of a symmetric positive semi-definite matrix, by eigh:
    a = V diag(l) V^T  ->  V diag(sqrt(l)) V^T (tiny negative l from round-off become 0)."""
    vals, vecs = torch.linalg.eigh(a)
    return (vecs * vals.clamp(min=0).sqrt()) @ vecs.T


def frechet_distance(mu_a: torch.Tensor, cov_a: torch.Tensor, mu_b: torch.Tensor,
                     cov_b: torch.Tensor) -> torch.Tensor:
    """Squared Frechet (2-Wasserstein) distance between N(mu_a, cov_a) and N(mu_b, cov_b)
    (Dowson & Landau 1982; FID: Heusel et al. 2017); a 0-dim tensor:

        |mu_a - mu_b|^2 + tr(cov_a) + tr(cov_b) - 2 tr((cov_a cov_b)^(1/2)).

    cov_a cov_b is not symmetric, but it has the eigenvalues of the symmetric matrix
    S cov_b S with S = cov_a^(1/2), so tr((cov_a cov_b)^(1/2)) = sum of sqrt(eigenvalues)."""
    s = sqrtm_psd(cov_a)
    m = s @ cov_b @ s
    cross = torch.linalg.eigvalsh((m + m.T) / 2).clamp(min=0).sqrt().sum()
    return ((mu_a - mu_b) ** 2).sum() + cov_a.trace() + cov_b.trace() - 2 * cross


def fid(features_a: torch.Tensor, features_b: torch.Tensor) -> torch.Tensor:
    """FID: the Frechet distance between Gaussians fitted to two feature sets (N, d), (M, d)."""
    return frechet_distance(*gaussian_stats(features_a), *gaussian_stats(features_b))


def polynomial_kernel(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """k(x, y) = (x . y / d + 1)^3 for every pair of rows: (N, d), (M, d) -> (N, M)
    (KID's kernel, Binkowski et al. 2018)."""
    return (x @ y.T / x.shape[1] + 1) ** 3


def mmd2_unbiased(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Unbiased estimate of MMD^2 between the distributions of x (m, d) and y (n, d):
    means of k over pairs i != j within x and within y, minus twice the mean over all
    cross pairs (Gretton et al. 2012). A 0-dim tensor; it can be negative."""
    m, n = len(x), len(y)
    k_xx, k_yy, k_xy = polynomial_kernel(x, x), polynomial_kernel(y, y), polynomial_kernel(x, y)
    within_x = (k_xx.sum() - k_xx.diagonal().sum()) / (m * (m - 1))
    within_y = (k_yy.sum() - k_yy.diagonal().sum()) / (n * (n - 1))
    return within_x + within_y - 2 * k_xy.mean()


def kid(features_a: torch.Tensor, features_b: torch.Tensor, n_subsets: int = 100,
        subset_size: int = 1000, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """KID: mmd2_unbiased on random subsets (drawn without replacement) of both feature sets,
    averaged; returns (mean, std over subsets). Computed in float64."""
    a, b = features_a.double(), features_b.double()
    size = min(subset_size, len(a), len(b))
    gen = torch.Generator().manual_seed(seed)
    draws = torch.stack([mmd2_unbiased(a[torch.randperm(len(a), generator=gen)[:size]],
                                       b[torch.randperm(len(b), generator=gen)[:size]])
                         for _ in range(n_subsets)])
    return draws.mean(), draws.std() if n_subsets > 1 else torch.zeros((), dtype=a.dtype)


def clip_loss(image_emb: torch.Tensor, text_emb: torch.Tensor, log_scale) -> torch.Tensor:
    """CLIP's symmetric cross-entropy (Radford et al. 2021, Figure 3): L = s * u_i . v_j for
    unit-length u = image_emb, v = text_emb (B, D) and s = exp(log_scale); caption i is the
    right answer for image i and image i for caption i; the mean of both directions."""
    u, v = F.normalize(image_emb, dim=-1), F.normalize(text_emb, dim=-1)
    logits = torch.as_tensor(log_scale).exp() * u @ v.T        # (B, B): image i, caption j
    target = torch.arange(len(u), device=u.device)
    return (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target)) / 2


def clip_score(image_emb: torch.Tensor, text_emb: torch.Tensor) -> torch.Tensor:
    """Per pair: 100 * max(cos(u_i, v_i), 0), (B, D), (B, D) -> (B,). The 100 is torchmetrics'
    scale; Hessel et al. (2021) use 2.5 instead. Report the mean over a set of images."""
    return 100 * F.cosine_similarity(image_emb, text_emb, dim=-1).clamp(min=0)
