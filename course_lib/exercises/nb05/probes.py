"""The kit of notebook 05's loop exercise `guided_samples`: a labelled toy with a known
conditional denoiser, its probe inputs (uneven noise levels, starts, labels, the landing case),
plain unguided sampling to compare with, and the guided loop with one rule changed that
builds its planted bugs."""
from __future__ import annotations

import math

import torch

from course_lib import diffusion, samplers
from course_lib.checking import Case
from course_lib.exercises.common import gen, pick, update
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


# The kit of the training-step exercise `cond_train_step`: its harness, which records every
# call the step makes to the model, and the step with one rule changed (its planted bugs).

STEPS = 2  # the harness calls the step this many times on each case's batch
# what the harness returns, by position
LOSSES, FLOATS, INPUTS, SIGMAS, SEEN, CALLS, MOVED, WEIGHTS, SETTINGS = range(9)


def weights_of(model) -> torch.Tensor:
    return torch.cat([p.detach().reshape(-1) for p in model.parameters()]).clone()


def seen_labels(step):
    """The harness: call `step` STEPS times on the case's batch (each call draws afresh from
    the generator), recording every call it makes to the model: the input x, sigma and the
    labels it got. Returns plain data, indexed by the names above; SEEN holds, per label the
    model saw, 0 (the caller's label), 1 (NULL) or 2 (anything else)."""
    def run(model, x0, labels, optimizer, p_uncond, schedule, generator=None):
        calls = []

        def on_model(module, args, kwargs):
            got = list(args) + [kwargs.get(k) for k in ("x", "sigma", "cond")[len(args):]]
            x, sigma, cond = got[:3]
            calls.append((x.detach().double().clone(),
                          torch.as_tensor(sigma).detach().double().reshape(-1).clone(),
                          None if cond is None else torch.as_tensor(cond).detach().clone()))

        given = labels.clone()
        hook = model.register_forward_pre_hook(on_model, with_kwargs=True)
        before = weights_of(model)
        losses, floats, weights, xs, sigmas, seen = [], [], [], [], [], []
        try:
            for _ in range(STEPS):
                n_calls = len(calls)
                loss = step(model, x0, labels, optimizer, p_uncond, schedule, generator)
                floats.append(type(loss) is float)
                losses.append(float(loss.detach() if isinstance(loss, torch.Tensor) else loss))
                weights.append(weights_of(model))
                if len(calls) > n_calls and len(calls[n_calls][0]) == len(x0):
                    x, sigma, cond = calls[n_calls]
                    xs.append(x)
                    sigmas.append(sigma.expand(len(x0)))
                    seen.append(kinds(cond, given))
        finally:
            hook.remove()
        return [torch.tensor(losses, dtype=torch.float64), torch.tensor(floats),
                torch.stack(xs) if xs else torch.zeros(0, dtype=torch.float64),
                torch.cat(sigmas) if sigmas else torch.zeros(0, dtype=torch.float64),
                torch.stack(seen) if seen else torch.zeros(0, dtype=torch.long),
                torch.tensor([len(c[0]) for c in calls], dtype=torch.long),
                torch.tensor(not torch.equal(before, weights_of(model))),
                torch.stack(weights),
                torch.tensor([p_uncond, schedule.sigma_min, schedule.sigma_max, STEPS, len(x0)],
                             dtype=torch.float64)]
    return run


def kinds(cond, given: torch.Tensor) -> torch.Tensor:
    """Per label the model saw: 0 the caller's own label, 1 NULL, 2 anything else (None: all
    NULL)."""
    if cond is None:
        return torch.ones(len(given), dtype=torch.long)
    if cond.shape != given.shape:
        return torch.full((len(given),), 2)
    return torch.where(cond == given, 0, torch.where(cond == NULL, 1, 2))


def step_with(drop="rand", null=NULL, zero_grad=True, step=True, detach=False, order="dsn",
              clean_input=False, target="eps", sigma="log", rng=True, in_place=False,
              p_fixed=None, as_tensor=False, noise_dtype=True):
    """A training step with one rule changed: the planted bugs of `cond_train_step`."""
    def run(model, x0, labels, optimizer, p_uncond, schedule, generator=None):
        g = generator if rng else None
        p = p_uncond if p_fixed is None else p_fixed
        B, draws = len(x0), {}
        for what in order:
            if what == "d":
                u = torch.rand(B if drop != "batch" else 1, generator=g)
                draws[what] = (u > p if drop == "flip" else u < p).expand(B)
            elif what == "s":
                draws[what] = (schedule.sample(B, g) if sigma == "log" else schedule.sample(1, g)
                               .expand(B) if sigma == "one" else schedule.sigma_min
                               + torch.rand(B, generator=g) * (schedule.sigma_max
                                                               - schedule.sigma_min))
            else:
                draws[what] = torch.randn(x0.shape, generator=g,
                                          dtype=x0.dtype if noise_dtype else torch.float32)
        drop_, s, eps = draws["d"], draws["s"], draws["n"]
        if in_place:
            labels[drop_] = null
            cond = labels
        else:
            cond = torch.where(drop_, torch.full_like(labels, null), labels)
        x = x0 + s[:, None] * eps
        eps_hat = model(x0 if clean_input else x, s, cond)
        loss = ((eps_hat - (x0 if target == "x0" else eps)) ** 2).mean()
        loss = update(loss, optimizer, detach, zero_grad, step)
        return loss if as_tensor else loss.item()
    return run
