"""Exercise `t2i_train_step` (notebook 07): one training step of the text-to-image model, graded
by what it does: the harness calls it twice on each probe batch, with a fresh small model and
a small frozen VAE, watches every call the step makes to the model and the VAE, and compares
the losses and weights with the course's step on the same draws.

The reference is the one copy of the step: `latent.train_text_to_image` runs it in its loop.
"""
from __future__ import annotations

import math

import torch
from torch import nn

from course_lib import diffusion, shapes, text
from course_lib.checking import Case, Props, exercise
from course_lib.exercises.common import gen, pick, seeded


# <solution cell>
def t2i_train_step(model, vae, images: torch.Tensor, tokens, empty, optimizer, scale: float,
                   p_empty: float, schedule, generator: torch.Generator | None = None) -> float:
    """One training step of the text-to-image `model` on a batch of B images (B, 3, 32, 32)
    with their captions' tokens = (ids, mask), each (B, L); empty = (ids, mask) of the empty
    prompt "", each (1, L). The VAE is frozen: it is not trained and stays in eval mode; its
    latent means (vae.encode(images)[0]) times `scale` are the clean latents z. The model is
    called as model(x, sigma, (ids, mask)); `optimizer` holds its parameters. Returns the loss
    as a Python float. Every random draw comes from `generator`, in this order: one uniform
    number per caption (torch.rand), then the noise levels schedule.sample(B, generator), then
    the noise (torch.randn in z's shape and dtype)."""
    ### BEGIN SOLUTION
    with torch.no_grad():
        z = vae.encode(images)[0] * scale
    ids, mask = tokens
    drop = (torch.rand(len(z), generator=generator) < p_empty)[:, None]
    cond = (torch.where(drop, empty[0], ids), torch.where(drop, empty[1], mask))
    sigma = schedule.sample(len(z), generator)
    eps = torch.randn(z.shape, generator=generator, dtype=z.dtype)
    loss = diffusion.weighted_denoising_loss(model, z, sigma, eps, sigma_data=1.0, cond=cond)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return loss.item()
    ### END SOLUTION
# </solution cell>


class ProbeTextDenoiser(nn.Module):
    """A small stand-in for latent.TextToImage with its contract, model(z, sigma, (ids, mask))
    -> eps_hat: the mean embedding of the real (unmasked) tokens sets a gain and a shift per
    channel of a 3x3 convolution of z / sqrt(sigma^2 + 1). Fast, so the statistics of a few
    hundred samples cost little."""

    def __init__(self, vocab_size: int, seed: int):
        super().__init__()
        with seeded(seed):
            self.tokens = nn.Embedding(vocab_size, 8)
            self.film = nn.Linear(8, 8)
            self.conv = nn.Conv2d(4, 4, 3, padding=1)
            self.noise = nn.Linear(1, 4)

    def forward(self, z, sigma, cond):
        ids, mask = cond
        s = torch.as_tensor(sigma, dtype=z.dtype).reshape(-1, 1).expand(len(z), 1)
        m = mask.to(z.dtype)[..., None]
        t = (self.tokens(ids) * m).sum(1) / m.sum(1).clamp(min=1)
        gain, shift = self.film(t)[..., None, None].chunk(2, dim=1)
        h = self.conv(z / torch.sqrt(s[..., None, None] ** 2 + 1))
        return h * (1 + gain) + shift + self.noise(s.log())[..., None, None]


def _vae(n: int, factor: float):
    """A small random VAE (frozen: eval mode) whose latent means have std about 0.4 * factor."""
    from course_lib import vae

    with seeded(n):
        autoencoder = vae.VAE(width=8)
    with torch.no_grad():
        out = autoencoder.encoder[-1]
        out.weight[:4] *= factor
        out.bias[:4] *= factor
    return autoencoder.eval()


def _t2i(vocab_size: int, n: int):
    """A tiny latent.TextToImage (its last layer not zero, so every weight gets a gradient)."""
    from course_lib import latent

    with seeded(n):
        model = latent.TextToImage(vocab_size, dim=16, base=8)
        nn.init.normal_(model.unet.out[-1].weight, std=0.05)
    return model.train()


def _case(model, autoencoder, images, captions, vocab, lr: float, p: float, sched, n: int,
          scale: float | None = None) -> Case:
    if scale is None:
        scale = 1.0 / autoencoder.encode(images)[0].std().item()
    # plain SGD, not Adam: Adam turns gradients that differ only by rounding (one thread or
    # two) into steps of a whole learning rate, and answer and reference run in separate
    # processes in the class grader
    optimizer = torch.optim.SGD(model.parameters(), lr=lr * 100)
    return Case((model, autoencoder, images, text.tokenize_batch(captions, vocab),
                 text.tokenize_batch([""], vocab), optimizer, scale, p, sched, gen(n)))


def cases() -> dict[str, Case]:
    seed = int(torch.randint(2**31 - 1, (1,), generator=gen(70)))
    images, captions, _ = shapes.make_dataset(pick(71, 192, 160, 224), seed=seed)
    vocab = text.build_vocab(captions)
    factor = pick(72, 0.5, 0.4, 12.0)  # latent std ~0.2 (scale ~5) or ~5 (scale ~0.2)
    sched = pick(74, diffusion.Schedule(0.02, 20.0), diffusion.Schedule(0.005, 5.0),
                 diffusion.Schedule(0.05, 40.0))  # not the course's own range
    b = pick(76, 6, 5, 7)
    with torch.no_grad():
        autoencoder = _vae(73, factor)
        scale = 1.0 / autoencoder.encode(images[:64])[0].std().item()
        return {
            "the course's model": _case(
                _t2i(len(vocab), 75), autoencoder, images[:b], captions[:b], vocab,
                pick(77, 1e-3, 2e-3, 5e-4), pick(78, 0.5, 0.4, 0.6), sched, 79, scale),
            "one sample": _case(
                ProbeTextDenoiser(len(vocab), 80), autoencoder, images[20:21], captions[20:21],
                vocab, 1e-2, 0.5, sched, 81, scale),
            "a few hundred samples": _case(
                ProbeTextDenoiser(len(vocab), 82), autoencoder, images, captions, vocab, 1e-2,
                pick(83, 0.3, 0.25, 0.4), sched, 84, scale),
            "almost no noise": _case(
                ProbeTextDenoiser(len(vocab), 85), autoencoder, images[:16], captions[:16],
                vocab, 1e-2, 0.0, diffusion.Schedule(1e-4, 2e-4), 86),
        }


STEPS = 2  # the harness calls the step this many times on each case's batch
# what the harness returns, by position
LOSSES, FLOATS, SIGMAS, DROPS, CALLS, STD, VAE, INPUTS, MOVED, WEIGHTS, SETTINGS = range(11)


def _weights(model) -> torch.Tensor:
    return torch.cat([p.detach().reshape(-1) for p in model.parameters()]).clone()


def watched(step):
    """The harness: call `step` STEPS times on the case's batch (each call draws afresh from
    the generator), recording every call it makes to the model (the noisy latents' std,
    sigma, which captions were emptied) and to the VAE (its mode), then what it left behind
    (gradients in the VAE, changed inputs, moved weights). Returns plain data, indexed by the
    names above."""
    def run(model, autoencoder, images, tokens, empty, optimizer, scale, p_empty, schedule,
            generator=None):
        calls, modes = [], []

        def on_model(module, args, kwargs):
            x = args[0] if args else kwargs.get("z", kwargs.get("x"))
            sigma = args[1] if len(args) > 1 else kwargs.get("sigma")
            cond = args[2] if len(args) > 2 else kwargs.get("cond")
            calls.append((x.detach().clone(), torch.as_tensor(sigma).detach().reshape(-1)
                          .double().clone(), tuple(c.detach().clone() for c in cond)))

        def on_vae(module, args):
            modes.append(autoencoder.training or module.training)

        hooks = [model.register_forward_pre_hook(on_model, with_kwargs=True),
                 autoencoder.encoder.register_forward_pre_hook(on_vae)]
        vae_before = [t.detach().clone() for t in autoencoder.state_dict().values()]
        given = [images, *tokens, *empty]
        given_before = [t.clone() for t in given]
        ids0, mask0 = tokens[0].clone(), tokens[1].clone()
        before = _weights(model)
        losses, floats, weights, sigmas, drops, sizes, stds = [], [], [], [], [], [], []
        try:
            for _ in range(STEPS):
                n_calls = len(calls)
                loss = step(model, autoencoder, images, tokens, empty, optimizer, scale, p_empty,
                            schedule, generator)
                floats.append(type(loss) is float)
                losses.append(float(loss.detach() if isinstance(loss, torch.Tensor) else loss))
                weights.append(_weights(model))
                sizes += [len(c[0]) for c in calls[n_calls:]]
                if len(calls) > n_calls:
                    x, sigma, (got_ids, got_mask) = calls[n_calls]
                    sigmas.append(sigma)
                    stds.append(x.double().std())
                    drops.append(_dropped(got_ids, got_mask, ids0, mask0, empty))
        finally:
            for hook in hooks:
                hook.remove()
        grads = [p.grad for p in autoencoder.parameters()]
        vae_after = list(autoencoder.state_dict().values())
        vae_flags = [any(modes), any(g is not None and bool(g.abs().sum() > 0) for g in grads),
                     any(not torch.equal(a, b) for a, b in zip(vae_before, vae_after)),
                     len(modes) / STEPS]
        changed = [not torch.equal(a, b) for a, b in zip(given_before, given)]
        return [torch.tensor(losses, dtype=torch.float64), torch.tensor(floats),
                torch.cat(sigmas) if sigmas else torch.zeros(0, dtype=torch.float64),
                torch.cat(drops) if drops else torch.zeros(0, dtype=torch.long),
                torch.tensor(sizes, dtype=torch.long),
                torch.stack(stds) if stds else torch.zeros(0, dtype=torch.float64),
                torch.tensor(vae_flags, dtype=torch.float64),
                torch.tensor([any(changed[:-2]), any(changed[-2:])]),
                torch.tensor(not torch.equal(before, _weights(model))),
                torch.stack(weights),
                torch.tensor([p_empty, schedule.sigma_min, schedule.sigma_max, scale, STEPS,
                              len(images)], dtype=torch.float64)]
    return run


def _dropped(got_ids, got_mask, ids, mask, empty) -> torch.Tensor:
    """Per caption the model saw: 0 kept as given, 1 the empty prompt (ids and mask), 2 neither."""
    if got_ids.shape != ids.shape or got_mask.shape != mask.shape:
        return torch.full((len(ids),), 2)
    kept = (got_ids == ids).all(1) & (got_mask == mask).all(1)
    emptied = (got_ids == empty[0]).all(1) & (got_mask == empty[1]).all(1)
    return torch.where(kept, 0, torch.where(emptied, 1, 2))


PROPS = Props()
STATS, CLEAN = "a few hundred samples", "almost no noise"
SAME = ("the course's model", "one sample")


@PROPS("returns the loss of the step as a Python float",
       "the step's loss is a 0-dim tensor until you ask for its number, after backpropagating")
def _float(outs, refs):
    flags = outs[STATS].value[FLOATS]
    return bool(flags.all()) and len(flags) > 0, (
        "a float every step" if bool(flags.all()) else "not a float (a tensor?)")


@PROPS("calls the model once per step, on the whole batch",
       "one forward pass per step: all B noisy latents, each with its own caption (emptied or "
       "not); the empty prompt is not a second call in training")
def _calls(outs, refs):
    sizes, settings = outs[STATS].value[CALLS], refs[STATS].value[SETTINGS]
    steps, batch = int(settings[4]), int(settings[5])
    ok = len(sizes) == steps and bool((sizes == batch).all())
    return ok, (f"{len(sizes)} calls in {steps} steps, batch sizes "
                f"{sorted(set(sizes.tolist()))} for B = {batch}")


@PROPS("encodes the images with the VAE, leaving it in eval mode",
       "the VAE is a frozen, pretrained part: encode every batch with it, and do not switch "
       "it to training mode (only the model being trained is)")
def _vae_mode(outs, refs):
    train_mode, _, _, per_step = outs[STATS].value[VAE].tolist()
    if per_step < 1:
        return False, f"the VAE's encoder ran {per_step:.2f} times per step"
    return not train_mode, "in training mode while encoding" if train_mode else "eval mode"


@PROPS("no gradient reaches the VAE",
       "the VAE is frozen: compute the latents without recording a graph through it, so that "
       "backpropagation stops at the latents and the VAE's weights get no gradient")
def _vae_grad(outs, refs):
    grads = outs[STATS].value[VAE][1].item()
    return not grads, "the VAE's weights received gradients" if grads else "none"


@PROPS("leaves the VAE's weights, the images and the captions' tokens unchanged",
       "only the model's weights may change: the VAE is not trained, and the batch you are "
       "given (images, tokens, the empty prompt) is the caller's; empty captions out of place")
def _unchanged(outs, refs):
    for name in outs:
        vae_changed = outs[name].value[VAE][2].item()
        batch_changed, empty_changed = outs[name].value[INPUTS].tolist()
        what = [w for w, c in (("the VAE's weights", vae_changed), ("the batch", batch_changed),
                               ("the empty prompt", empty_changed)) if c]
        if what:
            return False, f"case '{name}': changed {', '.join(what)}"
    return True, "unchanged"


@PROPS("scales the latents once: the clean latents the model sees have std 1",
       "the VAE's latents have their own scale; multiply them by `scale` (once) so that "
       "the model trains on unit-variance latents, as it is sampled")
def _scale(outs, refs):
    stds, sigmas = outs[CLEAN].value[STD], outs[CLEAN].value[SIGMAS]
    if not len(stds):
        return False, "the model was never called"
    std, settings = stds[0].item(), refs[CLEAN].value[SETTINGS]
    scale = settings[3].item()
    if not bool((sigmas <= settings[2]).all()):
        return False, (f"not checked: case '{CLEAN}' gives a schedule of sigma ~ 1e-4, the "
                       f"model got sigma up to {sigmas.max():.3g}")
    guess = ""
    if abs(std * scale - 1) < 0.1:
        guess = " (not scaled)"
    elif abs(std / scale - 1) < 0.1:
        guess = " (scaled twice)"
    elif abs(std * scale**2 - 1) < 0.1:
        guess = " (divided by scale)"
    return abs(std - 1) < 0.1, (f"std {std:.3f} at sigma ~ 1e-4 (the VAE's latents: "
                                f"{1 / scale:.3f}, scale {scale:.3f}){guess}")


@PROPS("draws one noise level per sample, log-uniform over the schedule's range",
       "schedule.sample(B, generator) gives each sample its own sigma between sigma_min and "
       "sigma_max of the schedule you are given, evenly spread in log sigma")
def _sigmas(outs, refs):
    sig = outs[STATS].value[SIGMAS]
    settings = refs[STATS].value[SETTINGS]
    if not len(sig):
        return False, "the model was never called"
    lo, hi = math.log(settings[1].item()), math.log(settings[2].item())
    log_s = sig.clamp(min=1e-30).log()
    inside = bool(((log_s >= lo - 1e-6) & (log_s <= hi + 1e-6)).all())
    below = (log_s < (lo + hi) / 2).double().mean().item()
    batch = int(settings[5])
    varied = bool(sig[:batch].max() > sig[:batch].min())
    ok = inside and abs(below - 0.5) < 0.1 and varied
    return ok, (f"log sigma in [{log_s.min():.2f}, {log_s.max():.2f}] for [{lo:.2f}, {hi:.2f}]; "
                f"{below:.0%} below the middle; "
                f"{'one sigma per sample' if varied else 'one sigma for the whole batch'}")


@PROPS("a dropped caption becomes the empty prompt, ids and mask alike; a kept one is unchanged",
       "the model reads a caption through its ids and its mask: a caption replaced by \"\" "
       "takes both from the empty prompt, row by row")
def _rows(outs, refs):
    drops = outs[STATS].value[DROPS]
    bad = int((drops == 2).sum())
    return bad == 0 and len(drops) > 0, (f"{bad} of {len(drops)} captions the model saw are "
                                         "neither the given one nor the empty prompt")


@PROPS("empties each caption with probability p_empty",
       "a caption is replaced by the empty prompt when its uniform number falls below p_empty "
       "(classifier-free guidance then has an unconditional model to subtract)")
def _rate(outs, refs):
    drops = outs[STATS].value[DROPS]
    p = refs[STATS].value[SETTINGS][0].item()
    if not len(drops):
        return False, "the model was never called"
    rate = (drops != 0).double().mean().item()
    return abs(rate - p) < 0.09, f"{rate:.0%} of {len(drops)} captions emptied for p_empty = {p}"


@PROPS("decides for each caption on its own",
       "one uniform number per caption, not one per batch: a batch mixes emptied and kept "
       "captions")
def _per_caption(outs, refs):
    drops = outs[STATS].value[DROPS]
    batch = int(refs[STATS].value[SETTINGS][5])
    if len(drops) < batch:
        return False, "the model was never called"
    rows = drops[: len(drops) // batch * batch].reshape(-1, batch)
    mixed = int(((rows != 0).any(1) & (rows == 0).any(1)).sum())
    return mixed == len(rows), (f"{mixed} of {len(rows)} batches of {batch} mix emptied and "
                                "kept captions")


@PROPS("steps the optimiser: the model's weights move",
       "backpropagate the loss itself (the tensor the model's output went into) and step the "
       "optimiser you are given")
def _moves(outs, refs):
    moved = bool(outs[STATS].value[MOVED])
    return moved, "the weights moved" if moved else "the weights did not move"


@PROPS("the same losses as the course's step on the same draws",
       "draw from the generator in the order the docstring gives (one uniform number per "
       "caption, then sigma, then the noise), scale the latents, and weight each sample's "
       "squared error by 1 + sigma^2 (sigma_d = 1)")
def _same_loss(outs, refs):
    return _compare(outs, refs, LOSSES, "loss")[:2]


@PROPS("the same weights as the course's step after every step",
       "each step must apply its own gradient: clear the old ones, backpropagate the loss, "
       "step the optimiser once")
def _same_weights(outs, refs):
    ok, detail, where = _compare(outs, refs, WEIGHTS, "weights")
    if not ok and where[1] > 0:
        _, _, loss_where = _compare(outs, refs, LOSSES, "loss")
        if loss_where[0] != where[0] or loss_where[1] > where[1]:  # losses agree up to there
            detail += (f"; the weights and losses matched up to step {where[1]}: does each "
                       "step's gradient hold that step's loss only?")
    return ok, detail


def _compare(outs, refs, what: int, word: str, atol: float = 1e-5, rtol: float = 1e-4):
    """(ok, detail, (first case that differs, its first step that differs, from 0))."""
    worst = 0.0
    for name in SAME:
        got, want = outs[name].value[what], refs[name].value[what]
        if got.shape != want.shape:
            return False, f"case '{name}': {len(got)} steps recorded for {len(want)}", (name, 0)
        for k, (g, w) in enumerate(zip(got.double(), want.double())):
            diff = (g - w).abs()
            if not bool((diff <= atol + rtol * w.abs()).all()):
                return False, (f"case '{name}', step {k + 1}: max |yours - reference| "
                               f"{word} = {diff.max():.2e}"), (name, k)
            worst = max(worst, diff.max().item() if diff.numel() else 0.0)
    return True, f"max |yours - reference| = {worst:.1e}", (None, len(SAME))


def _step(scale_by=lambda z, s: z * s, no_grad=True, vae_train=False, drop="rand",
          order="drop sigma eps", zero_grad=True, rng=True, p_fixed=None, weighted=True,
          keep_mask=False, in_place=False, step_vae=False, course=False, detach_loss=False,
          as_tensor=False):
    """A training step with one rule changed."""
    def step(model, vae, images, tokens, empty, optimizer, scale, p_empty, schedule,
             generator=None):
        g = generator if rng else None
        p = p_empty if p_fixed is None else p_fixed
        sched = diffusion.COURSE if course else schedule
        if vae_train:
            vae.train()
        if no_grad:
            with torch.no_grad():
                z = scale_by(vae.encode(images)[0], scale)
        else:
            z = scale_by(vae.encode(images)[0], scale)
        ids, mask = tokens
        draws = {}
        for what in order.split():
            if what == "drop":
                u = torch.rand(len(z) if drop != "batch" else 1, generator=g)
                draws[what] = (u < p if drop == "rand" else u > p if drop == "flip"
                               else u < p if drop == "batch" else torch.zeros_like(u, dtype=bool))
            elif what == "sigma":
                draws[what] = sched.sample(len(z), g)
            else:
                draws[what] = torch.randn(z.shape, generator=g, dtype=z.dtype)
        d = draws["drop"].expand(len(z))[:, None]
        if in_place:
            ids[d[:, 0]] = empty[0]
            mask[d[:, 0]] = empty[1]
            cond = (ids, mask)
        else:
            cond = (torch.where(d, empty[0], ids), mask if keep_mask else
                    torch.where(d, empty[1], mask))
        sigma, eps = draws["sigma"], draws["eps"]
        loss = diffusion.weighted_denoising_loss(model, z, sigma, eps,
                                                 sigma_data=1.0 if weighted else None, cond=cond)
        if detach_loss:
            loss = torch.tensor(loss.item(), requires_grad=True)
        if zero_grad:
            optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if step_vae:
            torch.optim.SGD(vae.parameters(), lr=1e-2).step()
        return loss if as_tensor else loss.item()
    return step


def _zero_after(model, vae, images, tokens, empty, optimizer, scale, p_empty, schedule,
                generator=None):
    with torch.no_grad():
        z = vae.encode(images)[0] * scale
    ids, mask = tokens
    drop = torch.rand(len(z), generator=generator) < p_empty
    ids, mask = ids.clone(), mask.clone()
    ids[drop], mask[drop] = empty[0], empty[1]
    sigma = schedule.sample(len(z), generator)
    eps = torch.randn(z.shape, generator=generator, dtype=z.dtype)
    x = z + sigma[:, None, None, None] * eps
    eps_hat = model(x, sigma, (ids, mask))
    per_sample = ((eps_hat - eps) ** 2).mean(dim=(1, 2, 3))
    loss = ((1 + sigma**2) * per_sample).mean()
    loss.backward()
    optimizer.step()
    optimizer.zero_grad()
    return float(loss.detach())


def _frozen_flags(model, vae, images, tokens, empty, optimizer, scale, p_empty, schedule,
                  generator=None):
    vae.requires_grad_(False)
    z = vae.encode(images)[0].detach() * scale
    ids, mask = tokens
    drop = torch.rand(len(z), generator=generator) < p_empty
    cond = (ids.masked_fill(drop[:, None], 0) + torch.where(drop[:, None], empty[0], 0),
            torch.where(drop[:, None], empty[1], mask))
    sigma = schedule.sample(len(z), generator)
    eps = torch.randn(z.shape, generator=generator, dtype=z.dtype)
    loss = diffusion.weighted_denoising_loss(model, z, sigma, eps, 1.0, cond)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return loss.item()


BUGS = {
    "latents not scaled": _step(scale_by=lambda z, s: z),
    "latents scaled twice": _step(scale_by=lambda z, s: z * s * s),
    "latents divided by the scale (as decoding does)": _step(scale_by=lambda z, s: z / s),
    "VAE switched to training mode": _step(vae_train=True),
    "gradients flow into the VAE": _step(no_grad=False),
    "never empties a caption": _step(drop="never"),
    "empties with probability 1 - p_empty": _step(drop="flip"),
    "one draw empties the whole batch at once": _step(drop="batch"),
    "empties the ids but keeps the caption's mask": _step(keep_mask=True),
    "noise drawn before sigma": _step(order="drop eps sigma"),
    "plain loss, not weighted by 1 + sigma^2": _step(weighted=False),
    "no zero_grad: gradients pile up": _step(zero_grad=False),
    "returns the loss tensor": _step(as_tensor=True),
    "[grad] backpropagates a copy of the loss (loss.item() first)": _step(detach_loss=True),
    "[rng] draws from the global RNG": _step(rng=False),
    "[held] p_empty fixed at 0.1": _step(p_fixed=0.1),
    "[held] the course's sigma range, not the schedule given": _step(course=True),
    "[mutates] empties the captions in place": _step(in_place=True),
    "[mutates] steps the VAE too": _step(no_grad=False, step_vae=True),
}

ALTERNATIVES = {
    "zero_grad after the step, the loss written out": _zero_after,
    "VAE frozen by requires_grad_(False), latents detached": _frozen_flags,
}


def _proxies() -> tuple:
    from course_lib import fit, latent

    return (latent.train_text_to_image, diffusion.train_denoiser, fit.fit)


EXERCISE = exercise(globals(), points=4,
                    summary="one text-to-image training step, graded by what it does to a "
                            "small model and a frozen VAE",
                    proxies=_proxies, harness=watched, float64=False)
