"""The kit of notebook 05's loop exercise `guided_samples`: a labelled toy with a known
conditional denoiser, its probe inputs (uneven noise levels, starts, labels, the landing case),
plain unguided sampling to compare with, and the guided loop with one rule changed that
builds its planted bugs."""
from __future__ import annotations

import math

import torch

from course_lib import diffusion, samplers
from course_lib.checking import Case
from course_lib.exercises.common import gen, pick
from course_lib.exercises.nb05.cfg_denoise import cfg_denoise
from course_lib.guidance import N_CLASSES, NULL


def labelled_toy(n: int, seed: int, shape: tuple[int, ...] = (2,)):
    """A conditional denoiser with a known answer: n points K (n, *shape) drawn for probe
    `seed`, labelled 0, 1, 2 in turn, and the exact eps_hat of the points with label cond
    (of all of them for NULL or cond=None), notebook 04's ideal denoiser per class, in x's
    dtype, for sigma a number, a 0-dim or a (B,) tensor. Returns (K, labels, denoiser)."""
    K = torch.randn(n, math.prod(shape), generator=gen(seed)) * 2
    labels = torch.arange(n) % N_CLASSES

    def denoiser(x, sigma, cond=None):
        B = x.shape[0]
        flat, k = x.reshape(B, -1), K.to(x.dtype)
        sigma = torch.as_tensor(sigma, dtype=x.dtype).expand(B)[:, None]
        if cond is None:
            cond = torch.full((B,), NULL)
        allowed = (cond[:, None] == NULL) | (cond[:, None] == labels[None, :])  # (B, n)
        sq = ((flat[:, None, :] - k[None]) ** 2).sum(-1)
        weights = torch.softmax((-sq / (2 * sigma**2)).masked_fill(~allowed, -math.inf), dim=1)
        return ((flat - weights @ k) / sigma).reshape(x.shape)
    return K.reshape(n, *shape), labels, denoiser


def uneven_levels(n: int, steps: int, last: float = 0.0) -> torch.Tensor:
    """A decreasing list of steps + 1 noise levels, 8, then steps - 1 levels drawn for probe n
    at random (log-uniform) between 6 and just above `last`, then `last`."""
    lo, hi = math.log(max(1.05 * last, 0.02)), math.log(6.0)
    inner = torch.exp(lo + torch.rand(steps - 1, generator=gen(n)) * (hi - lo))
    return torch.cat([torch.tensor([8.0]), inner.sort(descending=True).values,
                      torch.tensor([last])])


def start(n: int, sigmas: torch.Tensor, *shape: int) -> torch.Tensor:
    return sigmas[0] * torch.randn(*shape, generator=gen(n), dtype=sigmas.dtype)


def labels_for(n: int, size: int) -> torch.Tensor:
    """Labels for a batch: every class present once the batch has three samples."""
    labels = torch.randint(N_CLASSES, (size,), generator=gen(n))
    labels[: min(size, N_CLASSES)] = torch.randperm(N_CLASSES, generator=gen(n + 1))[:size]
    return labels


_LAND = 190  # the probe numbers of the landing case, which a property redraws


def land_case() -> tuple[torch.Tensor, torch.Tensor, Case]:
    """The case whose samples must land on their own class: (K, labels of K, the Case)."""
    K, labels, den = labelled_toy(pick(_LAND, 9, 6, 12), _LAND + 1)
    sigmas = diffusion.COURSE.levels(pick(_LAND + 2, 25, 20, 30)).double()
    cond = labels_for(_LAND + 3, 48)
    w = pick(_LAND + 5, 3.0, 2.0, 4.0)
    return K, labels, Case((den, sigmas, start(_LAND + 6, sigmas, 48, 2), cond, w))


def same_as_unguided(cases, name: str, what: str, label=None):
    """A Prop test: the states of case `name` of cases() equal plain DDIM sampling (the
    library's loop, no guidance, called `what` in the detail), with the denoiser given the
    case's labels, or `label` for every sample."""
    def test(outs, refs):
        den, sigmas, x, cond, w = cases()[name].args
        cond = cond if label is None else torch.full_like(cond, label)
        want = torch.stack(list(samplers.samples(lambda x, s: den(x, s, cond), sigmas, x)))
        got = outs[name].value
        if got.shape != want.shape:
            return False, f"{got.shape[0]} states, where {what} has {want.shape[0]}"
        diff = (got - want).abs().max().item()
        return diff < 1e-5, f"w = {w:g}: max |yours - {what}| = {diff:.1e}"
    return test


def loop(eps=None, step=None):
    """The guided loop with one rule changed: eps(den, x, sigma, cond, w) the guided
    prediction, step(x, eps_hat, sigma, sigma_next) the update."""
    eps = eps or cfg_denoise
    step = step or (lambda x, e, s, s_next: x - (s - s_next) * e)

    def run(den, sigmas, x, cond, w):
        for s, s_next in zip(sigmas[:-1], sigmas[1:]):
            x = step(x, eps(den, x, s, cond, w), s, s_next)
            yield x
    return run


def halves(den, x, s, cond, uncond=None):
    """(eps_uncond, eps_cond) from two calls."""
    uncond = torch.full_like(cond, NULL) if uncond is None else uncond
    return den(x, s, uncond), den(x, s, cond)
