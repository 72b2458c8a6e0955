"""Exercise `decode` (notebook 08): latents through the VAE decoder to images in [0, 1]."""
from __future__ import annotations

import copy
import functools

import torch

from course_lib.checking import Case, Props, close, exercise
from course_lib.exercises.common import draw, gen, pick
from course_lib.exercises.nb08.probes import TOL, probe_pipeline, probe_vae, worst_case


# <solution cell>
@torch.no_grad()
def decode(vae, latents: torch.Tensor) -> torch.Tensor:
    """The images (B, 3, H, W) in [0, 1] that latents (B, C, h, w), scaled as the
    pipeline's are, stand for (section 5)."""
    ### BEGIN SOLUTION
    images = vae.decode(latents / vae.config.scaling_factor).sample
    return (images / 2 + 0.5).clamp(0, 1)
    ### END SOLUTION
# </solution cell>


def _rescaled(vae, factor: float):
    """The VAE with another latent scale in its config (the course's own VAE has about 1.1,
    Stable Diffusion's 0.18215): the factor belongs to the model, not to the code."""
    vae.register_to_config(scaling_factor=factor)
    return vae


def cases() -> dict[str, Case]:
    vae = probe_vae()
    z = torch.randn(2, 4, 8, 8, generator=gen(82))
    g = gen(83)
    one = torch.randn(1, 4, 8, 8, generator=g) * pick(84, 0.6, 0.4, 0.9)  # the clamp matters
    three = torch.randn(3, 4, 8, 8, generator=g)
    other = _rescaled(copy.deepcopy(vae), pick(85, 1.09, 0.5, 0.8, 1.6))
    return {"z": Case((vae, z)), "one": Case((vae, one)), "three": Case((other, three))}


@functools.lru_cache(maxsize=4)
def _pipeline_images(probe_draw: int) -> dict[str, torch.Tensor]:
    """The pipeline's decoding (vae.decode, then its image processor) of each case."""
    processor, out = probe_pipeline().image_processor, {}
    for name, case in cases().items():
        vae, z = case.args
        with torch.no_grad():
            raw = vae.decode(z / vae.config.scaling_factor).sample
        out[name] = processor.postprocess(raw, output_type="pt")
    return out


PROPS = Props()


@PROPS
def _pipeline(outs, refs):
    """equals the pipeline's decoding, for 1, 2 and 3 latents and another VAE's scale

    the latents are the VAE's own latents times the scaling factor of that VAE's config (it
    differs between VAEs): decoding first undoes that multiplication

    code: divide by vae.config.scaling_factor (not 0.18215 written in, not a multiplication);
    vae.decode(...).sample gives images in [-1, 1]"""
    worst, where = worst_case(outs, _pipeline_images(draw()))
    return worst < TOL, (f"max |yours - the pipeline's decode + postprocess| = {worst:.1e} "
                         f"(allowed {TOL:.0e}, worst in case '{where}')")


@PROPS
def _range(outs, refs):
    """images lie in [0, 1]

    the decoder's images lie in [-1, 1]: map that interval linearly onto [0, 1], then clip what
    still falls outside

    code: halve the images and add 0.5, then .clamp(0, 1)"""
    x = torch.cat([outs[name].value.flatten() for name in ("z", "one", "three")])
    return bool(x.min() >= 0 and x.max() <= 1), f"range [{x.min():.2f}, {x.max():.2f}]"


def _decode(vae, z, factor=None, squeeze=False, dtype=None):
    images = vae.decode(z / (vae.config.scaling_factor if factor is None else factor)).sample
    images = (images / 2 + 0.5).clamp(0, 1)
    images = images.squeeze(0) if squeeze else images
    return images if dtype is None else images.to(dtype)


BUGS = {
    "multiplies by the scaling factor": lambda vae, z: (
        vae.decode(z * vae.config.scaling_factor).sample / 2 + 0.5).clamp(0, 1),
    "stays in [-1, 1]": lambda vae, z: vae.decode(z / vae.config.scaling_factor).sample,
    "no clamp": lambda vae, z: vae.decode(z / vae.config.scaling_factor).sample / 2 + 0.5,
    "[held] Stable Diffusion's scaling factor 0.18215 written in":
        lambda vae, z: _decode(vae, z, factor=0.18215),
    "[held] squeezes the batch dimension (wrong for one image)":
        lambda vae, z: _decode(vae, z, squeeze=True),
    "[dtype] images as float32": lambda vae, z: _decode(vae, z, dtype=torch.float32),
}
ALTERNATIVES = {
    "return_dict=False, (x + 1) / 2": lambda vae, z: ((vae.decode(
        z / vae.config.scaling_factor, return_dict=False)[0] + 1) / 2).clamp(0, 1),
    "one latent at a time": lambda vae, z: torch.cat([_decode(vae, zi[None]) for zi in z]),
}

PROPS("""matches the reference for one latent and for an odd batch

      the whole batch is decoded at once and keeps its batch dimension, even for one image; the
      images keep the VAE's dtype

      code: no .squeeze() and no .float() on the result""",
      close("one", "three", atol=TOL))

EXERCISE = exercise(globals(), points=1, summary="latents -> images in [0, 1]",
                    reread="5. Decoding")
