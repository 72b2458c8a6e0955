"""Checks for notebook 07 (latent diffusion with text): the reparameterisation trick, the KL
term, the tokenizer and decoding scaled latents."""
from __future__ import annotations

import torch
from torch import nn

from course_lib import shapes, text, vae
from course_lib.checking import Case, Exercise, Prop, close

NB = "07_latent"


def _gen(seed):
    return torch.Generator().manual_seed(seed)


# ------------------------------------------------------------------- reparameterize

def _rep_cases():
    g = _gen(70)
    m, lv, e = (torch.randn(3, 4, 2, 2, generator=g) for _ in range(3))
    return {"random": Case((m, lv, e)), "eps0": Case((m, lv, torch.zeros_like(e))),
            "logvar0": Case((m, torch.zeros_like(lv), e))}


def _rep_eps0(outs, refs):
    m = _rep_cases()["eps0"].args[0]
    diff = (outs["eps0"].value - m).abs().max().item()
    return diff < 1e-6, f"eps = 0 must give the mean: max diff {diff:.1e}"


def _rep_unit(outs, refs):
    m, _, e = _rep_cases()["logvar0"].args
    diff = (outs["logvar0"].value - (m + e)).abs().max().item()
    return diff < 1e-6, f"logvar = 0 (std 1) must give mean + eps: max diff {diff:.1e}"


# ------------------------------------------------------------------- kl_divergence

def _kl_cases():
    g = _gen(71)
    m, lv = torch.randn(4, 4, 8, 8, generator=g), torch.randn(4, 4, 8, 8, generator=g) * 0.5
    return {"random": Case((m, lv)), "prior": Case((torch.zeros(2, 4, 8, 8),
                                                    torch.zeros(2, 4, 8, 8)))}


def _kl_prior(outs, refs):
    got = float(outs["prior"].value)
    return abs(got) < 1e-7, f"KL of N(0, 1) to N(0, 1) = {got:.2e}, expected 0"


def _kl_torch(outs, refs):
    m, lv = _kl_cases()["random"].args
    d = torch.distributions
    want = d.kl_divergence(d.Normal(m, (0.5 * lv).exp()), d.Normal(0.0, 1.0)).flatten(1).sum(1)
    diff = abs(float(outs["random"].value) - want.mean().item())
    return diff < 1e-3, f"|yours - torch.distributions.kl_divergence| = {diff:.1e}"


# ------------------------------------------------------------------- tokenize

def _vocab():
    return text.build_vocab(shapes.make_dataset(400, seed=0)[1])


def _tok_cases():
    v = _vocab()
    return {"caption": Case(("a small red circle at the top left", v)),
            "upper": Case(("A Large Green Square In The Center", v)),
            "empty": Case(("", v)), "unknown": Case(("a purple circle", v)),
            "long": Case((LONG, v)), "short_max": Case(("a red square", v, 6))}


LONG = ("a small red circle at the top left and a large blue square in the center "
        "and a yellow triangle")  # 20 distinct-ish words: the first ten must be kept


def _tok_frame(outs, refs):
    got = outs["caption"].value.tolist()
    ok = got[0] == text.BOS and got[9] == text.EOS and got[10:] == [text.PAD] * 2
    return ok, f"'a small red circle at the top left' -> {got}"


def _tok_empty(outs, refs):
    got = outs["empty"].value.tolist()
    return got == [text.BOS, text.EOS] + [text.PAD] * 10, f"'' -> {got}"


def _tok_long(outs, refs):
    got, want = outs["long"].value.tolist(), refs["long"].value.tolist()
    return got == want, f"a 20-word caption -> {got}, expected {want} (its first 10 words)"


# ------------------------------------------------------------------- decode_latents

class ProbeDecoder(nn.Module):
    def __init__(self):
        super().__init__()
        with torch.random.fork_rng():
            torch.manual_seed(72)
            self.conv = nn.Conv2d(4, 3, 1)

    def forward(self, z):
        return 3 * self.conv(nn.functional.interpolate(z, scale_factor=4))


def _dec_cases():
    z = torch.randn(2, 4, 8, 8, generator=_gen(73))
    return {"scale": Case((ProbeDecoder(), z, 1.7)), "one": Case((ProbeDecoder(), z, 1.0))}


def _dec_range(outs, refs):
    got = outs["one"].value
    lo, hi = got.min().item(), got.max().item()
    return lo >= -1 and hi <= 1, f"output range [{lo:.2f}, {hi:.2f}], expected within [-1, 1]"


EXERCISES = [
    Exercise(
        id="reparameterize", notebook=NB, points=2, reference=vae.reparameterize,
        cases=_rep_cases, summary="sample from N(mean, exp(logvar)) differentiably",
        props=[
            Prop("eps = 0 gives the mean", _rep_eps0, "z = mean + std * eps"),
            Prop("logvar = 0 gives mean + eps", _rep_unit,
                 "std = exp(logvar / 2): logvar is log(std^2)"),
            Prop("matches the reference", close("random"), "exp(0.5 * logvar), not exp(logvar)"),
        ],
    ),
    Exercise(
        id="kl_divergence", notebook=NB, points=2, reference=vae.kl_divergence,
        cases=_kl_cases, summary="KL between the encoder's Gaussian and N(0, I)",
        props=[
            Prop("is 0 for mean 0, logvar 0", _kl_prior,
                 "each value contributes 1/2 (mean^2 + exp(logvar) - 1 - logvar)"),
            Prop("equals torch.distributions' KL, summed per sample, averaged over the batch",
                 _kl_torch, "sum over every latent value of a sample (flatten(1).sum(1)), then "
                 "the mean over the batch; exp(logvar) is the variance"),
        ],
    ),
    Exercise(
        id="tokenize", notebook=NB, points=2, reference=text.tokenize, cases=_tok_cases,
        summary="caption -> fixed-length token ids",
        props=[
            Prop("<bos> words <eos> then <pad>", _tok_frame,
                 f"start with BOS = {text.BOS}, end the words with EOS = {text.EOS}, pad with "
                 f"PAD = {text.PAD} up to max_len"),
            Prop("the empty prompt is <bos> <eos>", _tok_empty,
                 "an empty caption has no words: ''.split() is []"),
            Prop("a long caption keeps its first max_len - 2 words, then <eos>", _tok_long,
                 "keep the first max_len - 2 words, then add <eos>"),
            Prop("matches the reference (upper case, unknown words, max_len 6)",
                 close("upper", "unknown", "short_max"),
                 "lower-case the words; vocab.get(word, UNK) for unknown ones"),
        ],
    ),
    Exercise(
        id="decode_latents", notebook=NB, points=1, reference=vae.decode_latents,
        cases=_dec_cases, summary="undo the latent scale, decode, clamp",
        props=[
            Prop("stays within [-1, 1]", _dec_range, "clamp the decoded image to [-1, 1]"),
            Prop("matches the reference for scale 1.7", close("scale"),
                 "diffusion latents are z * scale: divide by scale before decoding"),
        ],
    ),
]
