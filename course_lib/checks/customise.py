"""Checks for notebook 10 (customising and controlling the model): a LoRA layer and its merged
weight, held to peft's own LoRA layer; DreamBooth's prior-preservation loss; a ControlNet's
residuals added to a U-Net, held to diffusers; the watermark's detection score.

Every probe is built here in a fraction of a second from seeded random weights (tiny
UNet2DConditionModel and ControlNetModel included): no trained weights are needed.
"""
from __future__ import annotations

import copy
import functools

import numpy as np
import torch
from torch import nn

from course_lib import controlnet, customise, safety, shapes
from course_lib.checking import Case, Exercise, Prop, close

NB = "10_customise"


def _gen(seed):
    return torch.Generator().manual_seed(seed)


def _linear(d_in, d_out, seed):
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        return nn.Linear(d_in, d_out)


def _peft_linear(base: nn.Linear, A, B, alpha):
    """peft's LoRA Linear around a copy of `base`, with lora_A = A and lora_B = B."""
    from peft import LoraConfig, inject_adapter_in_model

    holder = nn.Module()
    holder.lin = copy.deepcopy(base)
    inject_adapter_in_model(LoraConfig(r=A.shape[0], lora_alpha=alpha, target_modules=["lin"]),
                            holder)
    with torch.no_grad():
        holder.lin.lora_A["default"].weight.copy_(A)
        holder.lin.lora_B["default"].weight.copy_(B)
    return holder.lin


# ------------------------------------------------------------------- lora_forward

def _lora_cases():
    g = _gen(100)
    base = _linear(12, 10, 101)
    A, B = torch.randn(4, 12, generator=g), torch.randn(10, 4, generator=g)
    x = torch.randn(5, 12, generator=g)
    return {"rank4": Case((x, base, A, B, 8.0)),
            "B_zero": Case((x, base, A, torch.zeros_like(B), 8.0)),
            "batch3d": Case((torch.randn(2, 3, 12, generator=g), base, A, B, 2.0)),
            "rank2": Case((x, base, A[:2], B[:, :2], 1.0))}


def _lora_zero(outs, refs):
    x, base, *_ = _lora_cases()["B_zero"].args
    with torch.no_grad():
        diff = (outs["B_zero"].value - base(x)).abs().max().item()
    return diff < 1e-6, f"B = 0: max |yours - base(x)| = {diff:.1e}"


def _lora_peft(outs, refs):
    worst = 0.0
    for name in ("rank4", "rank2"):
        x, base, A, B, alpha = _lora_cases()[name].args
        with torch.no_grad():
            want = _peft_linear(base, A, B, alpha)(x)
        worst = max(worst, (outs[name].value - want).abs().max().item())
    return worst < 1e-5, f"max |yours - peft's LoRA Linear with the same A, B| = {worst:.1e}"


# ------------------------------------------------------------------- merge_lora

def _merge_cases():
    g = _gen(102)
    W = torch.randn(10, 12, generator=g)
    A, B = torch.randn(4, 12, generator=g), torch.randn(10, 4, generator=g)
    Ws, As, Bs = (torch.randn(8, 8, generator=g), torch.randn(2, 8, generator=g),
                  torch.randn(8, 2, generator=g))
    return {"rect": Case((W, A, B, 8.0)), "square": Case((Ws, As, Bs, 3.0)),
            "B_zero": Case((W, A, torch.zeros_like(B), 8.0))}


def _merge_forward(outs, refs):
    W, A, B, alpha = _merge_cases()["rect"].args
    x = torch.randn(5, 12, generator=_gen(103))
    base = nn.Linear(12, 10, bias=False)
    with torch.no_grad():
        base.weight.copy_(W)
        want = customise.lora_forward(x, base, A, B, alpha)
    diff = (x @ outs["rect"].value.T - want).abs().max().item()
    return diff < 1e-4, f"x @ merged.T vs the unmerged LoRA layer: max diff {diff:.1e}"


def _merge_peft(outs, refs):
    worst = 0.0
    for name in ("rect", "square"):
        W, A, B, alpha = _merge_cases()[name].args
        base = nn.Linear(W.shape[1], W.shape[0], bias=False)
        with torch.no_grad():
            base.weight.copy_(W)
        layer = _peft_linear(base, A, B, alpha)
        layer.merge()
        worst = max(worst, (outs[name].value - layer.base_layer.weight).abs().max().item())
    return worst < 1e-4, f"max |yours - peft's merge()| = {worst:.1e}"


def _merge_zero(outs, refs):
    W = _merge_cases()["B_zero"].args[0]
    same = torch.equal(outs["B_zero"].value, W)
    return same, "B = 0 leaves W as it was" if same else "B = 0 changed W"


# ------------------------------------------------------------------- prior_preservation_loss

def _prior_cases():
    g = _gen(104)
    eps_hat, eps = torch.randn(6, 4, 8, 8, generator=g), torch.randn(6, 4, 8, 8, generator=g)
    two = torch.tensor([False, False, False, False, True, True])
    halves = torch.tensor([False] * 3 + [True] * 3)
    return {"two_prior": Case((eps_hat, eps, two, 0.5)),
            "halves": Case((eps_hat, eps, halves, 1.0)),
            "no_prior": Case((eps_hat, eps, torch.zeros(6, dtype=torch.bool), 1.0)),
            "weight0": Case((eps_hat, eps, two, 0.0))}


def _mse(a, b):
    return ((a - b) ** 2).mean().item()


def _prior_diffusers(outs, refs):
    eps_hat, eps, _, w = _prior_cases()["halves"].args
    pred, pred_prior = eps_hat.chunk(2)
    target, target_prior = eps.chunk(2)
    want = _mse(pred, target) + w * _mse(pred_prior, target_prior)
    got = float(outs["halves"].value)
    return abs(got - want) < 1e-5, (f"equal halves: {got:.5f}, diffusers' train_dreambooth.py "
                                    f"gives {want:.5f}")


def _prior_none(outs, refs):
    eps_hat, eps, *_ = _prior_cases()["no_prior"].args
    got, want = float(outs["no_prior"].value), _mse(eps_hat, eps)
    return abs(got - want) < 1e-5, f"no prior examples: {got:.5f}, the plain MSE is {want:.5f}"


def _prior_weight0(outs, refs):
    eps_hat, eps, is_prior, _ = _prior_cases()["weight0"].args
    got, want = float(outs["weight0"].value), _mse(eps_hat[~is_prior], eps[~is_prior])
    return abs(got - want) < 1e-5, (f"weight 0: {got:.5f}, the MSE over the new concept's "
                                    f"examples is {want:.5f}")


# ------------------------------------------------------------------- controlled_unet

@functools.lru_cache(maxsize=1)
def probe_models():
    """A tiny random U-Net, a fresh ControlNet copied from it (zero outputs) and a 'trained'
    one whose zero convolutions are given seeded random weights."""
    from diffusers import UNet2DConditionModel

    with torch.random.fork_rng():
        torch.manual_seed(105)
        unet = UNet2DConditionModel(
            sample_size=8, in_channels=4, out_channels=4, block_out_channels=(32, 64),
            layers_per_block=1, down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
            up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"), cross_attention_dim=32,
            attention_head_dim=8, norm_num_groups=16).eval()
        fresh = controlnet.build_controlnet(unet)
        trained = controlnet.build_controlnet(unet)
        zero_convs = [trained.controlnet_cond_embedding.conv_out, trained.controlnet_mid_block,
                      *trained.controlnet_down_blocks]
        with torch.no_grad():
            for conv in zero_convs:
                conv.weight.normal_(0, 0.05)
                conv.bias.normal_(0, 0.05)
    return unet, fresh.eval(), trained.eval()


def _ctrl_inputs():
    g = _gen(106)
    latents, text = torch.randn(2, 4, 8, 8, generator=g), torch.randn(2, 7, 32, generator=g)
    images = torch.stack([shapes.render(shapes.Attributes("circle", "red", "top left", "large")),
                          shapes.render(shapes.Attributes("square", "blue", "center", "small"))])
    return latents, torch.tensor([500, 120]), text, controlnet.layout_mask(images)


def _ctrl_cases():
    unet, fresh, trained = probe_models()
    latents, t, text, control = _ctrl_inputs()
    return {"scale1": Case((unet, trained, latents, t, text, control, 1.0)),
            "scale_half": Case((unet, trained, latents, t, text, control, 0.5)),
            "fresh": Case((unet, fresh, latents, t, text, control, 1.0)),
            "scale0": Case((unet, trained, latents, t, text, control, 0.0))}


def _plain_unet():
    unet, _, _ = probe_models()
    latents, t, text, _ = _ctrl_inputs()
    return unet(latents, t, encoder_hidden_states=text).sample.detach()


def _ctrl_noop(outs, refs):
    diff = max((outs[name].value - _plain_unet()).abs().max().item()
               for name in ("fresh", "scale0"))
    return diff < 1e-5, (f"a fresh ControlNet, or scale 0: max |yours - the U-Net alone| = "
                         f"{diff:.1e}")


def _ctrl_diffusers(outs, refs):
    unet, _, trained = probe_models()
    latents, t, text, control = _ctrl_inputs()
    with torch.no_grad():
        down, mid = trained(latents, t, encoder_hidden_states=text, controlnet_cond=control,
                            conditioning_scale=0.5, return_dict=False)
        want = unet(latents, t, encoder_hidden_states=text, down_block_additional_residuals=down,
                    mid_block_additional_residual=mid).sample
    diff = (outs["scale_half"].value - want).abs().max().item()
    return diff < 1e-5, (f"scale 0.5: max |yours - ControlNetModel(conditioning_scale=0.5) "
                         f"into the U-Net| = {diff:.1e}")


# ------------------------------------------------------------------- watermark_score

def _wm_images(n, seed):
    rng = np.random.default_rng(seed)
    combos = shapes.all_attributes(include_held_out=True)
    picks = rng.integers(len(combos), size=n)
    return (torch.stack([shapes.render(combos[i], rng) for i in picks]) + 1) / 2


def _wm_cases():
    signs = safety.watermark_signs(107)
    plain = _wm_images(64, 108)
    marked = safety.embed_watermark(plain[:8], signs)
    return {"marked": Case((marked, signs)), "plain": Case((plain, signs)),
            "contrast": Case((0.5 * marked + 0.2, signs))}


def _wm_marked(outs, refs):
    z = outs["marked"].value
    return bool((z > safety.THRESHOLD).all()), (f"marked images: z from {z.min():.1f} to "
                                                f"{z.max():.1f}, threshold {safety.THRESHOLD}")


def _wm_null(outs, refs):
    z = outs["plain"].value
    ok = abs(z.mean().item()) < 0.5 and 0.6 < z.std().item() < 1.5
    return ok, (f"64 unmarked images: z has mean {z.mean():.2f} and std {z.std():.2f} "
                "(about N(0, 1) expected)")


def _wm_contrast(outs, refs):
    diff = (outs["contrast"].value - outs["marked"].value).abs().max().item()
    return diff < 1e-3, f"0.5 * image + 0.2 changes z by at most {diff:.1e}"


EXERCISES = [
    Exercise(
        id="lora_forward", notebook=NB, points=2, reference=customise.lora_forward,
        cases=_lora_cases, summary="a linear layer with a low-rank update",
        props=[
            Prop("B = 0 gives the base layer exactly", _lora_zero,
                 "h = base(x) + (alpha / r) * (x @ A.T @ B.T): base(x) includes the bias"),
            Prop("equals peft's LoRA Linear with the same weights", _lora_peft,
                 "the scale is alpha / r, with r = A.shape[0] (peft: lora_alpha / r)"),
            Prop("works for inputs with more leading dimensions", close("batch3d"),
                 "x @ A.T works for (..., d_in); avoid x.T or torch.mm"),
        ],
    ),
    Exercise(
        id="merge_lora", notebook=NB, points=1, reference=customise.merge_lora,
        cases=_merge_cases, summary="fold the adapter into the weight",
        props=[
            Prop("B = 0 leaves W unchanged", _merge_zero, "W + (alpha / r) * B @ A"),
            Prop("the merged layer computes what the LoRA layer does", _merge_forward,
                 "B @ A is (d_out, d_in) like W; (alpha / r) with r = A.shape[0]"),
            Prop("equals peft's merge()", _merge_peft,
                 "B @ A, not A.T @ B.T (the transpose has the same shape for square W)"),
        ],
    ),
    Exercise(
        id="prior_preservation_loss", notebook=NB, points=2,
        reference=customise.prior_preservation_loss, cases=_prior_cases,
        summary="DreamBooth's loss: new concept + weight x prior",
        props=[
            Prop("equals diffusers' DreamBooth loss on equal halves", _prior_diffusers,
                 "mean over the new-concept examples + weight * mean over the prior ones"),
            Prop("weight 0 is the new concept's MSE alone", _prior_weight0,
                 "the weight multiplies the prior term only"),
            Prop("no prior examples gives the plain MSE (not NaN)", _prior_none,
                 "the mean of an empty selection is NaN: add the prior term only if "
                 "is_prior.any()"),
            Prop("matches the reference with 4 new and 2 prior examples", close("two_prior"),
                 "average each group over its own examples, not over the whole batch"),
        ],
    ),
    Exercise(
        id="controlled_unet", notebook=NB, points=2, reference=controlnet.controlled_unet,
        cases=_ctrl_cases, summary="a ControlNet's residuals added to the U-Net",
        props=[
            Prop("a fresh ControlNet (zero convolutions), or scale 0, changes nothing",
                 _ctrl_noop, "with scale 0 every residual must be 0: multiply all of them"),
            Prop("equals diffusers' ControlNet at scale 0.5", _ctrl_diffusers,
                 "scale every down residual and the mid residual; pass them as "
                 "down_block_additional_residuals and mid_block_additional_residual"),
            Prop("matches the reference at scale 1", close("scale1", atol=1e-4),
                 "controlnet(latents, t, encoder_hidden_states=text, controlnet_cond=control, "
                 "return_dict=False) returns (down residuals, mid residual)"),
        ],
    ),
    Exercise(
        id="watermark_score", notebook=NB, points=2, reference=safety.watermark_score,
        cases=_wm_cases, summary="the watermark's detection score z",
        props=[
            Prop("unmarked images score about N(0, 1)", _wm_null,
                 "divide by the norm of X itself, sqrt(sum X_b^2), not by a count"),
            Prop("marked images score above the threshold", _wm_marked,
                 "X = F.avg_pool2d(highpass(images), 2); z = (signs * X) summed per image"),
            Prop("brightness and contrast do not change z", _wm_contrast,
                 "high-pass first: it removes any constant, and the norm removes the scale"),
            Prop("matches the reference", close("marked", "plain", atol=1e-4),
                 "one z per image: sum over channels and blocks, not over the batch"),
        ],
    ),
]
