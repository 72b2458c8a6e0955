"""Exercise `decode_latents` (notebook 07): undo the latent scale, decode, clamp to [-1, 1]."""
from __future__ import annotations

import torch
from torch import nn

from course_lib.checking import Case, Props, close, exercise
from course_lib.exercises.common import gen


# <solution cell>
def decode_latents(decoder, latents: torch.Tensor, scale: float) -> torch.Tensor:
    """decoder(latents / scale), clamped to [-1, 1]."""
    ### BEGIN SOLUTION
    return decoder(latents / scale).clamp(-1, 1)
    ### END SOLUTION
# </solution cell>


class ProbeDecoder(nn.Module):
    """A fixed decoder for probing: 4x upsampling, a 1x1 convolution, times 3."""

    def __init__(self):
        super().__init__()
        with torch.random.fork_rng():  # fixed weights without touching the learner's RNG
            torch.manual_seed(72)
            self.conv = nn.Conv2d(4, 3, 1)

    def forward(self, z):
        return 3 * self.conv(nn.functional.interpolate(z, scale_factor=4))


def cases() -> dict[str, Case]:
    z = torch.randn(2, 4, 8, 8, generator=gen(73))
    return {"scale": Case((ProbeDecoder(), z, 1.7)), "one": Case((ProbeDecoder(), z, 1.0))}


PROPS = Props()


@PROPS("stays within [-1, 1]",
       "clamp the decoded image to [-1, 1]")
def _dec_range(outs, refs):
    got = outs["one"].value
    lo, hi = got.min().item(), got.max().item()
    return lo >= -1 and hi <= 1, f"output range [{lo:.2f}, {hi:.2f}], expected within [-1, 1]"


BUGS = {
    "multiplies by the scale": lambda d, z, s: d(z * s).clamp(-1, 1),
    "no clamp": lambda d, z, s: d(z / s),
    "ignores the scale": lambda d, z, s: d(z).clamp(-1, 1),
}

PROPS("matches the reference for scale 1.7",
      "diffusion latents are z * scale: divide by scale before decoding",
      close("scale"))

EXERCISE = exercise(globals(), points=1, summary="undo the latent scale, decode, clamp")
