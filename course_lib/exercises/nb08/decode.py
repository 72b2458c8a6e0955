"""Exercise `decode` (notebook 08): latents through the VAE decoder to images in [0, 1]."""
from __future__ import annotations

import torch

from course_lib.checking import Case, Props, exercise
from course_lib.exercises.nb08.probes import TOL, probe_pipeline


# <solution cell>
@torch.no_grad()
def decode(vae, latents: torch.Tensor) -> torch.Tensor:
    """latents -> images (B, 3, H, W) in [0, 1]."""
    ### BEGIN SOLUTION
    images = vae.decode(latents / vae.config.scaling_factor).sample
    return (images / 2 + 0.5).clamp(0, 1)
    ### END SOLUTION
# </solution cell>


def cases() -> dict[str, Case]:
    p = probe_pipeline()
    z = torch.randn(2, 4, 8, 8, generator=torch.Generator().manual_seed(82))
    return {"z": Case((p.vae, z))}


PROPS = Props()


@PROPS("equals the pipeline's decoding",
       "divide by vae.config.scaling_factor before vae.decode(...).sample")
def _pipeline(outs, refs):
    p = probe_pipeline()
    z = cases()["z"].args[1]
    with torch.no_grad():
        raw = p.vae.decode(z / p.vae.config.scaling_factor).sample
    want = p.image_processor.postprocess(raw, output_type="pt")
    diff = (outs["z"].value - want).abs().max().item()
    return diff < TOL, (f"max |yours - the pipeline's decode + postprocess| = {diff:.1e} "
                        f"(allowed {TOL:.0e})")


@PROPS("images lie in [0, 1]",
       "map [-1, 1] to [0, 1]: x / 2 + 0.5, clamp")
def _range(outs, refs):
    x = outs["z"].value
    return bool(x.min() >= 0 and x.max() <= 1), f"range [{x.min():.2f}, {x.max():.2f}]"


BUGS = {
    "multiplies by the scaling factor": lambda vae, z: (
        vae.decode(z * vae.config.scaling_factor).sample / 2 + 0.5).clamp(0, 1),
    "stays in [-1, 1]": lambda vae, z: vae.decode(z / vae.config.scaling_factor).sample,
    "no clamp": lambda vae, z: vae.decode(z / vae.config.scaling_factor).sample / 2 + 0.5,
}

EXERCISE = exercise(globals(), points=1, summary="latents -> images in [0, 1]")
