"""Exercise `controlled_unet` (notebook 10): a ControlNet's residuals added to the U-Net."""
from __future__ import annotations

import torch

from course_lib import controlnet as cn_module
from course_lib import shapes
from course_lib.checking import Case, Props, close, exercise
from course_lib.exercises.common import gen
from course_lib.exercises.nb10.probes import probe_models


# <solution cell>
def controlled_unet(unet, controlnet, latents, t, text, control, scale: float = 1.0):
    """The U-Net's output with the ControlNet's residuals, times scale, added."""
    ### BEGIN SOLUTION
    down, mid = controlnet(latents, t, encoder_hidden_states=text, controlnet_cond=control,
                           return_dict=False)
    return unet(latents, t, encoder_hidden_states=text,
                down_block_additional_residuals=[d * scale for d in down],
                mid_block_additional_residual=mid * scale).sample
    ### END SOLUTION
# </solution cell>


def _inputs():
    g = gen(106)
    latents, text = torch.randn(2, 4, 8, 8, generator=g), torch.randn(2, 7, 32, generator=g)
    images = torch.stack([shapes.render(shapes.Attributes("circle", "red", "top left", "large")),
                          shapes.render(shapes.Attributes("square", "blue", "center", "small"))])
    return latents, torch.tensor([500, 120]), text, cn_module.layout_mask(images)


def cases() -> dict[str, Case]:
    unet, fresh, trained = probe_models()
    latents, t, text, control = _inputs()
    return {"scale1": Case((unet, trained, latents, t, text, control, 1.0)),
            "scale_half": Case((unet, trained, latents, t, text, control, 0.5)),
            "fresh": Case((unet, fresh, latents, t, text, control, 1.0)),
            "scale0": Case((unet, trained, latents, t, text, control, 0.0))}


def _plain_unet():
    unet, _, _ = probe_models()
    latents, t, text, _ = _inputs()
    return unet(latents, t, encoder_hidden_states=text).sample.detach()


PROPS = Props()


@PROPS("a fresh ControlNet (zero convolutions), or scale 0, changes nothing",
       "with scale 0 every residual must be 0: multiply all of them")
def _noop(outs, refs):
    diff = max((outs[name].value - _plain_unet()).abs().max().item()
               for name in ("fresh", "scale0"))
    return diff < 1e-5, (f"a fresh ControlNet, or scale 0: max |yours - the U-Net alone| = "
                         f"{diff:.1e}")


@PROPS("equals diffusers' ControlNet at scale 0.5",
       "scale every down residual and the mid residual; pass them as "
       "down_block_additional_residuals and mid_block_additional_residual")
def _diffusers(outs, refs):
    unet, _, trained = probe_models()
    latents, t, text, control = _inputs()
    with torch.no_grad():
        down, mid = trained(latents, t, encoder_hidden_states=text, controlnet_cond=control,
                            conditioning_scale=0.5, return_dict=False)
        want = unet(latents, t, encoder_hidden_states=text, down_block_additional_residuals=down,
                    mid_block_additional_residual=mid).sample
    diff = (outs["scale_half"].value - want).abs().max().item()
    return diff < 1e-5, (f"scale 0.5: max |yours - ControlNetModel(conditioning_scale=0.5) "
                         f"into the U-Net| = {diff:.1e}")


def _ctrl(unet, cn, lat, t, txt, ctrl, s, mid=True, scale_down=True, scale_mid=True,
          use=True):
    down, m = cn(lat, t, encoder_hidden_states=txt, controlnet_cond=ctrl, return_dict=False)
    if not use:
        return unet(lat, t, encoder_hidden_states=txt).sample
    down = [d * s for d in down] if scale_down else down
    m = m * s if scale_mid else m
    return unet(lat, t, encoder_hidden_states=txt, down_block_additional_residuals=down,
                mid_block_additional_residual=m if mid else None).sample


def _conditioning_scale(unet, cn, lat, t, txt, c, s):
    down, mid = cn(lat, t, encoder_hidden_states=txt, controlnet_cond=c, conditioning_scale=s,
                   return_dict=False)
    return unet(lat, t, encoder_hidden_states=txt, down_block_additional_residuals=down,
                mid_block_additional_residual=mid).sample


BUGS = {
    "forgets the mid-block residual": lambda *a: _ctrl(*a, mid=False),
    "scale not applied": lambda *a: _ctrl(*a, scale_down=False, scale_mid=False),
    "scales only the mid residual": lambda *a: _ctrl(*a, scale_down=False),
    "ignores the ControlNet": lambda *a: _ctrl(*a, use=False),
}
ALTERNATIVES = {"conditioning_scale argument": _conditioning_scale}

PROPS("matches the reference at scale 1",
      "controlnet(latents, t, encoder_hidden_states=text, controlnet_cond=control, "
      "return_dict=False) returns (down residuals, mid residual)",
      close("scale1", atol=1e-4))

EXERCISE = exercise(globals(), points=2, summary="a ControlNet's residuals added to the U-Net")
