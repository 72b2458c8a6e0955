"""Exercise `t2i_train_step` (notebook 07): one training step of the text-to-image model, graded
by what it does (harness.py: two calls per probe batch, every call to the model and the VAE
watched, losses and weights compared with the course's step on the same draws). The reference
is the one copy of the step: `latent.train_text_to_image` runs it in its loop."""
from __future__ import annotations

import torch

from course_lib import diffusion, shapes, text
from course_lib.checking import Case, Props, exercise
from course_lib.exercises import training_step
from course_lib.exercises.common import TRAINING_LOOPS, gen, pick
from course_lib.exercises.nb07 import harness
from course_lib.exercises.nb07.harness import DROPS, VAE, watched
from course_lib.exercises.nb07.probes import (
    ProbeTextDenoiser,
    make_case,
    probe_t2i,
    probe_vae,
    step_with,
)
from course_lib.exercises.training_step import step_bugs


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


def cases() -> dict[str, Case]:
    seed = int(torch.randint(2**31 - 1, (1,), generator=gen(70)))
    images, captions, _ = shapes.make_dataset(pick(71, 192, 160, 224), seed=seed)
    vocab = text.build_vocab(captions)
    factor = pick(72, 0.5, 0.4, 12.0)  # latent std ~0.2 (scale ~5) or ~5 (scale ~0.2)
    sched = pick(74, diffusion.Schedule(0.02, 20.0), diffusion.Schedule(0.005, 5.0),
                 diffusion.Schedule(0.05, 40.0))  # not the course's own range
    b = pick(76, 6, 5, 7)
    with torch.no_grad():
        autoencoder = probe_vae(73, factor)
        scale = 1.0 / autoencoder.encode(images[:64])[0].std().item()
        return {
            "the course's model": make_case(
                probe_t2i(len(vocab), 75), autoencoder, images[:b], captions[:b], vocab,
                pick(77, 1e-3, 2e-3, 5e-4), pick(78, 0.5, 0.4, 0.6), sched, 79, scale),
            "one sample": make_case(
                ProbeTextDenoiser(len(vocab), 80), autoencoder, images[20:21], captions[20:21],
                vocab, 1e-2, 0.5, sched, 81, scale),
            "a few hundred samples": make_case(
                ProbeTextDenoiser(len(vocab), 82), autoencoder, images, captions, vocab, 1e-2,
                pick(83, 0.3, 0.25, 0.4), sched, 84, scale),
            "almost no noise": make_case(
                ProbeTextDenoiser(len(vocab), 85), autoencoder, images[:16], captions[:16],
                vocab, 1e-2, 0.0, diffusion.Schedule(1e-4, 2e-4), 86),
        }


PROPS = Props()
STATS, CLEAN = "a few hundred samples", "almost no noise"
SAME = ("the course's model", "one sample")


PROPS("""returns the loss of the step as a Python float

      the step reports its loss as a plain number, taken after backpropagation

      code: the step's loss is a 0-dim tensor until you ask for its number, after
      backpropagating""",
      training_step.returns_floats(STATS, harness.FLOATS))


PROPS("""calls the model once per step, on the whole batch

      one forward pass per step: all B noisy latents, each with its own caption (emptied or
      not); the empty prompt is not a second pass in training""",
      training_step.calls_once(STATS, harness.CALLS, harness.SETTINGS, steps_at=4))

PROPS("""encodes the images with the VAE, leaving it in eval mode

      the VAE is a frozen, pretrained part: encode every batch with it, and do not switch it to
      training mode (only the model being trained is)""",
      harness.vae_in_eval(STATS))


@PROPS
def _vae_grad(outs, refs):
    """no gradient reaches the VAE

    the VAE is frozen: compute the latents without recording a graph through it, so that
    backpropagation stops at the latents and the VAE's weights get no gradient"""
    grads = outs[STATS].value[VAE][1].item()
    return not grads, "the VAE's weights received gradients" if grads else "none"


PROPS("""leaves the VAE's weights, the images and the captions' tokens unchanged

      only the model's weights may change: the VAE is not trained, and the batch you are given
      (images, tokens, the empty prompt) is the caller's; empty captions out of place""",
      harness.inputs_unchanged)

PROPS("""scales the latents once: the clean latents the model sees have std 1

      the VAE's latents have their own spread; the scale given makes them unit-variance, as the
      model is sampled, and it is applied exactly once

      code: the VAE's latents have their own scale; multiply them by `scale` (once) so that the
      model trains on unit-variance latents, as it is sampled""",
      harness.scaled_once(CLEAN))

PROPS("""draws one noise level per sample, log-uniform over the schedule's range

      each sample gets its own noise level from the schedule you are given, spread evenly in log
      sigma between its smallest and largest level

      code: schedule.sample(B, generator) gives each sample its own sigma between sigma_min and
      sigma_max of the schedule you are given, evenly spread in log sigma""",
      training_step.log_uniform_sigmas(STATS, harness.SIGMAS, harness.SETTINGS, batch_at=5))


PROPS("""a dropped caption becomes the empty prompt, ids and mask alike; a kept one is unchanged

      the model reads a caption through its ids and its mask: a caption replaced by "" takes both
      from the empty prompt, row by row""",
      training_step.own_or_dropped(STATS, DROPS, "captions the model saw are neither the "
                                   "given one nor the empty prompt"))


PROPS("""empties each caption with probability p_empty

      a caption is replaced by the empty prompt when its uniform number falls below p_empty
      (classifier-free guidance then has an unconditional model to subtract)""",
      harness.empty_rate(STATS))

PROPS("""decides for each caption on its own

      one uniform number per caption, not one per batch: a batch mixes emptied and kept captions""",
      harness.mixed_batches(STATS))


PROPS("""steps the optimiser: the model's weights move

      backpropagate the loss itself (the tensor the model's output went into) and step the
      optimiser you are given""",
      training_step.weights_move(STATS, harness.MOVED))


PROPS("""the same losses as the course's step on the same draws

      the draws come from the generator in the documented order, and each sample's squared error
      carries the weight of the course's loss

      code: draw from the generator in the order the docstring gives (one uniform number per
      caption, then sigma, then the noise), scale the latents, and weight each sample's squared
      error by 1 + sigma^2 (sigma_d = 1)""",
      training_step.same_losses(SAME, harness.LOSSES))

PROPS("""the same weights as the course's step after every step

      each step must apply its own gradient, and only once

      code: each step must apply its own gradient: clear the old ones, backpropagate the loss,
      step the optimiser once""",
      training_step.same_weights(SAME, harness.WEIGHTS, harness.LOSSES))


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
    **step_bugs(step_with),
    "latents not scaled": step_with(scale_by=lambda z, s: z),
    "latents scaled twice": step_with(scale_by=lambda z, s: z * s * s),
    "latents divided by the scale (as decoding does)": step_with(scale_by=lambda z, s: z / s),
    "VAE switched to training mode": step_with(vae_train=True),
    "gradients flow into the VAE": step_with(no_grad=False),
    "never empties a caption": step_with(drop="never"),
    "empties with probability 1 - p_empty": step_with(drop="flip"),
    "one draw empties the whole batch at once": step_with(drop="batch"),
    "empties the ids but keeps the caption's mask": step_with(keep_mask=True),
    "noise drawn before sigma": step_with(order="drop eps sigma"),
    "plain loss, not weighted by 1 + sigma^2": step_with(weighted=False),
    "[held] p_empty fixed at 0.1": step_with(p_fixed=0.1),
    "[held] the course's sigma range, not the schedule given": step_with(course=True),
    "[mutates] empties the captions in place": step_with(in_place=True),
    "[mutates] steps the VAE too": step_with(no_grad=False, step_vae=True),
}

ALTERNATIVES = {
    "zero_grad after the step, the loss written out": _zero_after,
    "VAE frozen by requires_grad_(False), latents detached": _frozen_flags,
}


EXERCISE = exercise(globals(), points=4, summary="one text-to-image training step, graded by "
                    "what it does to a small model and a frozen VAE",
                    proxies=("course_lib.latent.train_text_to_image", *TRAINING_LOOPS),
                    harness=watched, float64=False, reread="One training step")
