"""Exercise `controlled_unet` (notebook 10): a ControlNet's residuals added to the U-Net."""
from __future__ import annotations

import copy
import functools

import torch

from course_lib import controlnet as cn_module
from course_lib import shapes
from course_lib.checking import Case, Props, close, exercise
from course_lib.exercises.common import draw, gen, pick
from course_lib.exercises.nb10.probes import probe_models


# <solution cell>
def controlled_unet(unet, controlnet, latents, t, text, control, scale: float = 1.0):
    """The U-Net's prediction for latents at timestep t with text embeddings `text`, steered
    by the ControlNet reading the conditioning image `control`, its residuals weighted by
    scale (0: no control), as section 4 describes. Returns the latents' shape."""
    ### BEGIN SOLUTION
    down, mid = controlnet(latents, t, encoder_hidden_states=text, controlnet_cond=control,
                           return_dict=False)
    return unet(latents, t, encoder_hidden_states=text,
                down_block_additional_residuals=[d * scale for d in down],
                mid_block_additional_residual=mid * scale).sample
    ### END SOLUTION
# </solution cell>


def _controls(n: int, k: int, notebook: list | None = None) -> torch.Tensor:
    """Layout masks of k shapes images: the notebook draw's given ones, or drawn by gen(n)."""
    if notebook is None or draw():
        combos = shapes.all_attributes(include_held_out=True)
        notebook = [combos[i] for i in torch.randint(len(combos), (k,), generator=gen(n))]
    return cn_module.layout_mask(torch.stack([shapes.render(a) for a in notebook]))


def _inputs():
    g = gen(106)
    latents, text = torch.randn(2, 4, 8, 8, generator=g), torch.randn(2, 7, 32, generator=g)
    t = torch.tensor(pick(134, [500, 120], [999, 1], [250, 750], [40, 610]))
    control = _controls(135, 2, [shapes.Attributes("circle", "red", "top left", "large"),
                                 shapes.Attributes("square", "blue", "center", "small")])
    return latents, t, text, control


def cases() -> dict[str, Case]:
    unet, fresh, trained = probe_models()
    latents, t, text, control = _inputs()
    frozen = copy.deepcopy(unet).requires_grad_(False)  # as in training: the ControlNet learns
    g = gen(136)
    lat3, txt3 = torch.randn(3, 4, 8, 8, generator=g), torch.randn(3, 9, 32, generator=g)
    return {"scale1": Case((unet, trained, latents, t, text, control, 1.0)),
            "scale_half": Case((unet, trained, latents, t, text, control,
                                pick(137, 0.5, 0.3, 0.8, 1.7))),
            "fresh": Case((unet, fresh, latents, t, text, control, 1.0)),
            "scale0": Case((unet, trained, latents, t, text, control, 0.0)),
            "three_frozen": Case((frozen, trained, lat3, pick(141, 300, 0, 880), txt3,
                                  _controls(142, 3), pick(143, 1.5, 0.25, 0.7)))}


@functools.lru_cache(maxsize=4)
def _expected(probe_draw: int) -> dict[str, torch.Tensor]:
    """The U-Net alone, and diffusers' ControlNet at the scale_half case's scale."""
    unet, _, trained = probe_models()
    latents, t, text, control = _inputs()
    scale = cases()["scale_half"].args[-1]
    with torch.no_grad():
        down, mid = trained(latents, t, encoder_hidden_states=text, controlnet_cond=control,
                            conditioning_scale=scale, return_dict=False)
        return {"plain": unet(latents, t, encoder_hidden_states=text).sample,
                "diffusers": unet(latents, t, encoder_hidden_states=text,
                                  down_block_additional_residuals=down,
                                  mid_block_additional_residual=mid).sample,
                "scale": torch.tensor(scale)}


PROPS = Props()


@PROPS
def _noop(outs, refs):
    """a fresh ControlNet (zero convolutions), or scale 0, changes nothing

    a fresh ControlNet's residuals are exactly 0 (zero convolutions), and scale 0 must switch
    the control off: the scale multiplies every residual, down and mid, so the output is the
    U-Net's alone

    code: multiply each down residual and the mid residual by scale"""
    plain = _expected(draw())["plain"]
    diff = max((outs[name].value - plain).abs().max().item() for name in ("fresh", "scale0"))
    return diff < 1e-5, (f"a fresh ControlNet, or scale 0: max |yours - the U-Net alone| = "
                         f"{diff:.1e}")


@PROPS
def _diffusers(outs, refs):
    """equals diffusers' ControlNet at another scale

    every down residual and the mid residual is scaled, and the U-Net adds them to its skip
    connections and to its middle block

    code: pass the scaled ones as down_block_additional_residuals (a list) and
    mid_block_additional_residual; take the U-Net's .sample"""
    want = _expected(draw())
    diff = (outs["scale_half"].value - want["diffusers"]).abs().max().item()
    return diff < 1e-5, (f"scale {float(want['scale']):g}: max |yours - "
                         f"ControlNetModel(conditioning_scale=...) into the U-Net| = {diff:.1e}")


def _ctrl(unet, cn, lat, t, txt, ctrl, s, mid=True, scale_down=True, scale_mid=True,
          use=True, no_grad=False, dtype=None):
    with torch.set_grad_enabled(torch.is_grad_enabled() and not no_grad):
        down, m = cn(lat, t, encoder_hidden_states=txt, controlnet_cond=ctrl, return_dict=False)
    if not use:
        return unet(lat, t, encoder_hidden_states=txt).sample
    down = [d * s for d in down] if scale_down else down
    m = m * s if scale_mid else m
    out = unet(lat, t, encoder_hidden_states=txt, down_block_additional_residuals=down,
               mid_block_additional_residual=m if mid else None).sample
    return out if dtype is None else out.to(dtype)


def _conditioning_scale(unet, cn, lat, t, txt, c, s):
    down, mid = cn(lat, t, encoder_hidden_states=txt, controlnet_cond=c, conditioning_scale=s,
                   return_dict=False)
    return unet(lat, t, encoder_hidden_states=txt, down_block_additional_residuals=down,
                mid_block_additional_residual=mid).sample


def _scales_zero_convs(unet, cn, lat, t, txt, c, s):
    """The right values, by scaling the ControlNet's output convolutions in place."""
    with torch.no_grad():
        for conv in [*cn.controlnet_down_blocks, cn.controlnet_mid_block]:
            conv.weight.mul_(s)
            conv.bias.mul_(s)
    return _ctrl(unet, cn, lat, t, txt, c, 1.0)


BUGS = {
    "forgets the mid-block residual": lambda *a: _ctrl(*a, mid=False),
    "scale not applied": lambda *a: _ctrl(*a, scale_down=False, scale_mid=False),
    "scales only the mid residual": lambda *a: _ctrl(*a, scale_down=False),
    "ignores the ControlNet": lambda *a: _ctrl(*a, use=False),
    "[grad] the ControlNet run without gradients": lambda *a: _ctrl(*a, no_grad=True),
    "[mutates] scales the ControlNet's zero convolutions in place": _scales_zero_convs,
    "[dtype] the result cast to float32": lambda *a: _ctrl(*a, dtype=torch.float32),
}
ALTERNATIVES = {"conditioning_scale argument": _conditioning_scale}

PROPS("""matches the reference at scale 1

      the ControlNet reads what the U-Net reads plus the control image, and returns the
      residuals that the U-Net adds in: one per skip connection, and one for the middle

      code: controlnet(latents, t, encoder_hidden_states=text, controlnet_cond=control,
      return_dict=False) returns (down, mid)""",
      close("scale1", atol=1e-4))

PROPS("""matches the reference for an odd batch of three at another scale, one timestep for all

      nothing depends on the batch size, the timestep may be one number for the whole batch, and
      gradients must still flow through the ControlNet while the U-Net is frozen

      code: pass t on as it is; no torch.no_grad() around the ControlNet, no change to its
      weights, no dtype cast of the result""",
      close("three_frozen", atol=1e-4))

EXERCISE = exercise(globals(), points=2, summary="a ControlNet's residuals added to the U-Net",
                    reread="4. Spatial control: ControlNet",
                    device=False)  # a U-Net and a ControlNet on meta: +0.5 s to the check
