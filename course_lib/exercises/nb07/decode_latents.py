"""Exercise `decode_latents` (notebook 07): scaled latents back to images in [-1, 1]."""
from __future__ import annotations

import torch
from torch import nn

from course_lib.checking import Case, Props, close, exercise
from course_lib.exercises.common import gen, pick, seeded


# <solution cell>
def decode_latents(decoder, latents: torch.Tensor, scale: float) -> torch.Tensor:
    """The images (B, 3, H, W), in the image range [-1, 1], that latents (B, C, h, w)
    multiplied by `scale` stand for (section 2); decoder maps unscaled latents to images."""
    ### BEGIN SOLUTION
    return decoder(latents / scale).clamp(-1, 1)
    ### END SOLUTION
# </solution cell>


class ProbeDecoder(nn.Module):
    """A fixed decoder for probing (probe draw `seed`): 4x upsampling, a 1x1 convolution,
    times 3."""

    def __init__(self, seed: int = 72):
        super().__init__()
        with seeded(seed):  # fixed weights without touching the learner's RNG
            self.conv = nn.Conv2d(4, 3, 1)

    def forward(self, z):
        return 3 * self.conv(nn.functional.interpolate(z, scale_factor=4))


def cases() -> dict[str, Case]:
    z = torch.randn(2, 4, 8, 8, generator=gen(73))
    h = gen(172)
    # a batch of one in float64, latents of another size, another scale
    z1 = torch.randn(1, 4, 5, 7, generator=h, dtype=torch.float64)
    return {"scale": Case((ProbeDecoder(), z, pick(73, 1.7, 0.7, 2.5, 5.0))),
            "one": Case((ProbeDecoder(), z, 1.0)),
            "float64": Case((ProbeDecoder(172).double(), z1, pick(172, 0.6, 1.3, 3.0)))}


PROPS = Props()


@PROPS
def _dec_range(outs, refs):
    """stays within [-1, 1]

    the decoder can overshoot the image range; the result is limited to [-1, 1], the range of
    the course's images

    code: .clamp(-1, 1) on the decoded image"""
    got = outs["one"].value
    lo, hi = got.min().item(), got.max().item()
    return lo >= -1 and hi <= 1, f"output range [{lo:.2f}, {hi:.2f}], expected within [-1, 1]"


def _divides_in_place(d, z, s):
    z /= s
    return d(z).clamp(-1, 1)


BUGS = {
    "multiplies by the scale": lambda d, z, s: d(z * s).clamp(-1, 1),
    "no clamp": lambda d, z, s: d(z / s),
    "ignores the scale": lambda d, z, s: d(z).clamp(-1, 1),
    "clamps to [0, 1]": lambda d, z, s: d(z / s).clamp(0, 1),
    "[held] Stable Diffusion's scale 0.18215 hard-coded": lambda d, z, s: d(z / 0.18215
                                                                             ).clamp(-1, 1),
    "[alias] divides the latents in place": _divides_in_place,
}
ALTERNATIVES = {"torch.clamp of decoder(latents * (1 / scale))":
                lambda d, z, s: torch.clamp(d(z * (1 / s)), min=-1, max=1)}

PROPS("""matches the reference for a scale other than 1

      diffusion works on the VAE's latents multiplied by scale; decoding first undoes that
      multiplication, with the scale you are given

      code: divide the latents by scale before calling decoder (not multiply; not Stable
      Diffusion's 0.18215 written in)""",
      close("scale"))

PROPS("""matches the reference for one latent of another size, in float64

      the decoder takes latents of any size; the result keeps their dtype, and the latents you
      are given stay as they were

      code: no .float(); no in-place /= on latents (it changes the caller's tensor)""",
      close("float64", atol=1e-12, rtol=1e-10))

EXERCISE = exercise(globals(), points=1, summary="scaled latents back to images",
                    reread="2. Scaling the latents")
