"""The kit of notebook 07's loop exercise `t2i_train_step`: the probe models (a fast stand-in
text denoiser, a small frozen VAE, a tiny course model), its cases, and the training step with
one rule changed that builds its planted bugs. The harness and what the properties read from
it are in harness.py."""
from __future__ import annotations

import torch
from torch import nn

from course_lib import diffusion, text
from course_lib.checking import Case
from course_lib.exercises.common import gen, seeded, update


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


def probe_vae(n: int, factor: float):
    """A small random VAE (frozen: eval mode) whose latent means have std about 0.4 * factor."""
    from course_lib import vae

    with seeded(n):
        autoencoder = vae.VAE(width=8)
    with torch.no_grad():
        out = autoencoder.encoder[-1]
        out.weight[:4] *= factor
        out.bias[:4] *= factor
    return autoencoder.eval()


def probe_t2i(vocab_size: int, n: int):
    """A tiny latent.TextToImage (its last layer not zero, so every weight gets a gradient)."""
    from course_lib import latent

    with seeded(n):
        model = latent.TextToImage(vocab_size, dim=16, base=8)
        nn.init.normal_(model.unet.out[-1].weight, std=0.05)
    return model.train()


def make_case(model, autoencoder, images, captions, vocab, lr: float, p: float, sched, n: int,
              scale: float | None = None) -> Case:
    """A case of the step: the model, the VAE, a batch and its captions' tokens, the empty
    prompt, an optimiser, the latent scale (measured on the batch when None), p_empty, the
    schedule and generator n."""
    if scale is None:
        scale = 1.0 / autoencoder.encode(images)[0].std().item()
    # plain SGD, not Adam: Adam turns gradients that differ only by rounding (one thread or
    # two) into steps of a whole learning rate, and answer and reference run in separate
    # processes in the class grader
    optimizer = torch.optim.SGD(model.parameters(), lr=lr * 100)
    return Case((model, autoencoder, images, text.tokenize_batch(captions, vocab),
                 text.tokenize_batch([""], vocab), optimizer, scale, p, sched, gen(n)))


def step_with(scale_by=lambda z, s: z * s, no_grad=True, vae_train=False, drop="rand",
              order="drop sigma eps", zero_grad=True, rng=True, p_fixed=None, weighted=True,
              keep_mask=False, in_place=False, step_vae=False, course=False,
              detach=False, as_tensor=False):
    """A training step with one rule changed: the planted bugs of `t2i_train_step`."""
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
        loss = update(loss, optimizer, detach, zero_grad)
        if step_vae:
            torch.optim.SGD(vae.parameters(), lr=1e-2).step()
        return loss if as_tensor else loss.item()
    return step
