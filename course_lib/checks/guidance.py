"""Checks for notebook 05 (classifier-free guidance): condition dropout, the guided
prediction, guidance with one denoiser call, and the adherence metric."""
from __future__ import annotations

import torch

from course_lib import guidance
from course_lib.checking import Case, Exercise, Prop, close
from course_lib.guidance import NULL

NB = "05_guidance"


# ------------------------------------------------------------------- drop_condition

def _labels():
    return torch.randint(guidance.N_CLASSES, (20_000,), generator=torch.Generator().manual_seed(40))


def _drop_cases():
    return {"p0": Case((_labels(), 0.0, torch.Generator().manual_seed(1))),
            "p1": Case((_labels(), 1.0, torch.Generator().manual_seed(2))),
            "p02": Case((_labels(), 0.2, torch.Generator().manual_seed(3)))}


def _drop_p0(outs, refs):
    ok = torch.equal(outs["p0"].value, _labels())
    return ok, "p = 0 keeps every label" if ok else "p = 0 changed some labels"


def _drop_p1(outs, refs):
    frac = (outs["p1"].value == NULL).float().mean().item()
    return frac == 1.0, f"p = 1: {frac:.1%} of labels are NULL = {NULL}, expected 100%"


def _drop_rate(outs, refs):
    got = outs["p02"].value
    frac = (got == NULL).float().mean().item()
    kept = got != NULL
    same = torch.equal(got[kept], _labels()[kept])
    ok = abs(frac - 0.2) < 0.015 and same
    return ok, (f"p = 0.2: {frac:.1%} dropped (expected 20% +- 1.5%), "
                f"kept labels unchanged: {same}")


# ------------------------------------------------------------------- cfg_eps

def _cfg_cases():
    g = torch.Generator().manual_seed(41)
    u, c = torch.randn(6, 2, generator=g), torch.randn(6, 2, generator=g)
    return {"w1": Case((u, c, 1.0)), "w0": Case((u, c, 0.0)), "w7": Case((u, c, 7.5))}


def _cfg_w1(outs, refs):
    c = _cfg_cases()["w1"].args[1]
    diff = (outs["w1"].value - c).abs().max().item()
    return diff < 1e-6, f"w = 1: max |result - eps_cond| = {diff:.1e}, expected 0"


def _cfg_w0(outs, refs):
    u = _cfg_cases()["w0"].args[0]
    diff = (outs["w0"].value - u).abs().max().item()
    return diff < 1e-6, f"w = 0: max |result - eps_uncond| = {diff:.1e}, expected 0"


# ------------------------------------------------------------------- cfg_denoise

class ProbeConditional(guidance.ConditionalDenoiser):
    """A small conditional network with fixed random weights, for probing cfg_denoise."""

    def __init__(self):
        with torch.random.fork_rng():
            torch.manual_seed(42)
            super().__init__(hidden=16, depth=1, emb_dim=4)


def _den_cases():
    g = torch.Generator().manual_seed(43)
    x = torch.randn(5, 2, generator=g)
    cond = torch.tensor([0, 1, 2, 1, 0])
    sigma = torch.tensor([0.1, 0.5, 1.0, 2.0, 5.0])
    return {"w1": Case((ProbeConditional(), x, sigma, cond, 1.0)),
            "w0": Case((ProbeConditional(), x, sigma, cond, 0.0)),
            "w3": Case((ProbeConditional(), x, sigma, cond, 3.0)),
            "scalar_sigma": Case((ProbeConditional(), x, torch.tensor(0.7), cond, 2.0))}


def _den_w1(outs, refs):
    model, x, sigma, cond, _ = _den_cases()["w1"].args
    with torch.no_grad():
        want = model(x, sigma, cond)
    diff = (outs["w1"].value - want).abs().max().item()
    return diff < 1e-5, f"w = 1: max |result - denoiser(x, sigma, cond)| = {diff:.1e}"


def _den_w0(outs, refs):
    model, x, sigma, cond, _ = _den_cases()["w0"].args
    with torch.no_grad():
        want = model(x, sigma, torch.full_like(cond, NULL))
    diff = (outs["w0"].value - want).abs().max().item()
    return diff < 1e-5, f"w = 0: max |result - denoiser(x, sigma, NULL)| = {diff:.1e}"


# ------------------------------------------------------------------- adherence

def _adh_cases():
    data, arms, _ = guidance.labelled_spiral()
    g = torch.Generator().manual_seed(44)
    on_arm = data[arms == 1] + 0.001 * torch.randn(85, 2, generator=g)
    mixed = data[torch.randint(255, (400,), generator=g)] + 0.01 * torch.randn(400, 2, generator=g)
    return {"on_arm": Case((on_arm, 1, data, arms)), "wrong_arm": Case((on_arm, 2, data, arms)),
            "mixed": Case((mixed, 0, data, arms))}


def _adh_extremes(outs, refs):
    a, b = float(outs["on_arm"].value), float(outs["wrong_arm"].value)
    return a == 1.0 and b == 0.0, (f"points on arm 1: adherence to arm 1 = {a:.2f} (expected 1),"
                                   f" to arm 2 = {b:.2f} (expected 0)")


EXERCISES = [
    Exercise(
        id="drop_condition", notebook=NB, points=2, reference=guidance.drop_condition,
        cases=_drop_cases, summary="condition dropout",
        props=[
            Prop("p = 0 keeps every label", _drop_p0, "drop where rand < p: never when p = 0"),
            Prop("p = 1 drops every label to NULL", _drop_p1,
                 f"a dropped label becomes NULL = N_CLASSES = {NULL}, not 0"),
            Prop("p = 0.2 drops about 20% and keeps the rest", _drop_rate,
                 "one uniform number per label (torch.rand(labels.shape, generator=...)); "
                 "torch.where(drop, NULL, labels) keeps the others"),
            Prop("with the given generator, drops exactly the reference's labels", close("p02"),
                 "draw torch.rand(labels.shape, generator=generator) once and drop where it "
                 "is < p, so that a seed reproduces the same dropout"),
        ],
    ),
    Exercise(
        id="cfg_eps", notebook=NB, points=2, reference=guidance.cfg_eps, cases=_cfg_cases,
        summary="the guided prediction",
        props=[
            Prop("w = 1 gives the conditional prediction", _cfg_w1,
                 "diffusers' convention: eps_u + w * (eps_c - eps_u), so w = 1 is no guidance "
                 "(not eps_c + w * (eps_c - eps_u))"),
            Prop("w = 0 gives the unconditional prediction", _cfg_w0,
                 "start from eps_uncond and add w times the difference"),
            Prop("matches the reference at w = 7.5", close("w7"),
                 "the difference is eps_cond - eps_uncond, in that order"),
        ],
    ),
    Exercise(
        id="cfg_denoise", notebook=NB, points=3, reference=guidance.cfg_denoise,
        cases=_den_cases, summary="guidance with one batched denoiser call",
        props=[
            Prop("w = 1 equals the conditional denoiser", _den_w1,
                 "the conditional half uses cond; combine with cfg_eps"),
            Prop("w = 0 equals the denoiser with the NULL label", _den_w0,
                 "the unconditional half uses the NULL token (torch.full_like(cond, NULL)), "
                 "not label 0"),
            Prop("matches the reference at w = 3 and with a scalar sigma",
                 close("w3", "scalar_sigma"),
                 "expand sigma to (B,) before concatenating it with itself"),
        ],
    ),
    Exercise(
        id="adherence", notebook=NB, points=1, reference=guidance.adherence, cases=_adh_cases,
        summary="how often samples land on the requested arm",
        props=[
            Prop("1 for points on the target arm, 0 for another target", _adh_extremes,
                 "look up the label of each sample's nearest data point and compare with target"),
            Prop("matches the reference on a mixed cloud", close("mixed"),
                 "a fraction between 0 and 1 (a mean of 0/1 values), returned as a float"),
        ],
    ),
]
