"""Notebook 10's probes: peft's LoRA layer around given weights, and a tiny U-Net with two
ControlNets, all from seeded random weights of the probe draw (no trained weights are
needed)."""
from __future__ import annotations

import copy
import functools

import torch
from torch import nn

from course_lib import controlnet
from course_lib.exercises.common import draw, seeded


def peft_linear(base: nn.Linear, A, B, alpha):
    """peft's LoRA Linear around a copy of `base`, with lora_A = A and lora_B = B."""
    from peft import LoraConfig, inject_adapter_in_model

    holder = nn.Module()
    holder.lin = copy.deepcopy(base)
    with torch.random.fork_rng(devices=[]):  # peft initialises A with the global RNG
        inject_adapter_in_model(LoraConfig(r=A.shape[0], lora_alpha=alpha,
                                           target_modules=["lin"]), holder)
    with torch.no_grad():
        holder.lin.lora_A["default"].weight.copy_(A)
        holder.lin.lora_B["default"].weight.copy_(B)
    return holder.lin


def probe_models():
    """A tiny random U-Net, a fresh ControlNet copied from it (zero outputs) and a 'trained'
    one whose zero convolutions are given seeded random weights: a fresh copy of the ones
    built once per draw, so that nothing one check does to them reaches the next."""
    return copy.deepcopy(_pristine_models(draw()))


@functools.lru_cache(maxsize=4)
def _pristine_models(probe_draw: int):
    from diffusers import UNet2DConditionModel

    assert probe_draw == draw()
    with seeded(105):
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
