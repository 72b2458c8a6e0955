"""The harness of notebook 07's loop exercise `t2i_train_step`: `watched` runs the step twice on
a case and records what it does (every call to the model and the VAE, what it left behind);
the bodies of the longer properties read that record."""
from __future__ import annotations

import torch

STEPS = 2  # the harness calls the step this many times on each case's batch
# what the harness returns, by position
LOSSES, FLOATS, SIGMAS, DROPS, CALLS, STD, VAE, INPUTS, MOVED, WEIGHTS, SETTINGS = range(11)


def weights_of(model) -> torch.Tensor:
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
        before = weights_of(model)
        losses, floats, weights, sigmas, drops, sizes, stds = [], [], [], [], [], [], []
        try:
            for _ in range(STEPS):
                n_calls = len(calls)
                loss = step(model, autoencoder, images, tokens, empty, optimizer, scale, p_empty,
                            schedule, generator)
                floats.append(type(loss) is float)
                losses.append(float(loss.detach() if isinstance(loss, torch.Tensor) else loss))
                weights.append(weights_of(model))
                sizes += [len(c[0]) for c in calls[n_calls:]]
                if len(calls) > n_calls:
                    x, sigma, (got_ids, got_mask) = calls[n_calls]
                    sigmas.append(sigma)
                    stds.append(x.double().std())
                    drops.append(dropped(got_ids, got_mask, ids0, mask0, empty))
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
                torch.tensor(not torch.equal(before, weights_of(model))),
                torch.stack(weights),
                torch.tensor([p_empty, schedule.sigma_min, schedule.sigma_max, scale, STEPS,
                              len(images)], dtype=torch.float64)]
    return run


def dropped(got_ids, got_mask, ids, mask, empty) -> torch.Tensor:
    """Per caption the model saw: 0 kept as given, 1 the empty prompt (ids and mask), 2 neither."""
    if got_ids.shape != ids.shape or got_mask.shape != mask.shape:
        return torch.full((len(ids),), 2)
    kept = (got_ids == ids).all(1) & (got_mask == mask).all(1)
    emptied = (got_ids == empty[0]).all(1) & (got_mask == empty[1]).all(1)
    return torch.where(kept, 0, torch.where(emptied, 1, 2))


# The bodies of the longer properties: each a Prop test of the harness's data on case `case`
# (those notebook 05's step shares are in training_step.py).

def vae_in_eval(case: str):
    """The VAE's encoder runs every step, never in training mode."""
    def test(outs, refs):
        train_mode, _, _, per_step = outs[case].value[VAE].tolist()
        if per_step < 1:
            return False, f"the VAE's encoder ran {per_step:.2f} times per step"
        return not train_mode, "in training mode while encoding" if train_mode else "eval mode"
    return test


def inputs_unchanged(outs, refs):
    """In every case: the VAE's weights, the batch and the empty prompt as they were."""
    for name in outs:
        vae_changed = outs[name].value[VAE][2].item()
        batch_changed, empty_changed = outs[name].value[INPUTS].tolist()
        what = [w for w, c in (("the VAE's weights", vae_changed), ("the batch", batch_changed),
                               ("the empty prompt", empty_changed)) if c]
        if what:
            return False, f"case '{name}': changed {', '.join(what)}"
    return True, "unchanged"


def scaled_once(case: str):
    """At sigma ~ 1e-4 the noisy latents are the clean ones: their std is 1 once scaled."""
    def test(outs, refs):
        stds, sigmas = outs[case].value[STD], outs[case].value[SIGMAS]
        if not len(stds):
            return False, "the model was never called"
        std, settings = stds[0].item(), refs[case].value[SETTINGS]
        scale = settings[3].item()
        if not bool((sigmas <= settings[2]).all()):
            return False, (f"not checked: case '{case}' gives a schedule of sigma ~ 1e-4, the "
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
    return test


def empty_rate(case: str):
    """The share of captions emptied is p_empty, within 0.09."""
    def test(outs, refs):
        drops = outs[case].value[DROPS]
        p = refs[case].value[SETTINGS][0].item()
        if not len(drops):
            return False, "the model was never called"
        rate = (drops != 0).double().mean().item()
        return abs(rate - p) < 0.09, (f"{rate:.0%} of {len(drops)} captions emptied for "
                                      f"p_empty = {p}")
    return test


def mixed_batches(case: str):
    """Every batch mixes emptied and kept captions."""
    def test(outs, refs):
        drops = outs[case].value[DROPS]
        batch = int(refs[case].value[SETTINGS][5])
        if len(drops) < batch:
            return False, "the model was never called"
        rows = drops[: len(drops) // batch * batch].reshape(-1, batch)
        mixed = int(((rows != 0).any(1) & (rows == 0).any(1)).sum())
        return mixed == len(rows), (f"{mixed} of {len(rows)} batches of {batch} mix emptied "
                                    "and kept captions")
    return test
