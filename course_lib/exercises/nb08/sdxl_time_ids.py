"""Exercise `sdxl_time_ids` (notebook 08): SDXL's six micro-conditioning numbers per input."""
from __future__ import annotations

import functools

import torch

from course_lib.checking import Case, Props, close, exercise
from course_lib.exercises.common import draw, pick
from course_lib.exercises.nb08.probes import worst_case
from course_lib.exercises.nb08.probes_xl import probe_xl_pipeline


# <solution cell>
def sdxl_time_ids(original_size, crop_top_left, target_size, batch_size: int,
                  guided: bool = True, dtype=torch.float32, device=None) -> torch.Tensor:
    """SDXL's micro-conditioning (section 10) for one U-Net call on batch_size images:
    original_size and target_size as (height, width), crop_top_left as (top, left). Returns
    one row of six numbers per U-Net input, (2 * batch_size, 6) when guided (both halves of
    the doubled batch), (batch_size, 6) otherwise, in dtype on device."""
    ### BEGIN SOLUTION
    row = [*original_size, *crop_top_left, *target_size]
    n = 2 * batch_size if guided else batch_size
    return torch.tensor([row] * n, dtype=dtype, device=device)
    ### END SOLUTION
# </solution cell>


def _settings() -> dict[str, tuple]:
    """(original_size, crop_top_left, target_size, batch_size, guided) of each case; heights
    and widths differ, and so do top and left, so that every swap shows."""
    return {"guided_two": (pick(140, (24, 16), (8, 40), (48, 24)),
                           pick(141, (4, 2), (0, 6), (10, 3)),
                           pick(142, (32, 40), (40, 24), (56, 48)), pick(143, 2, 3), True),
            "unguided_three": (pick(144, (512, 768), (640, 384)), pick(145, (0, 128), (64, 0)),
                               pick(146, (1024, 896), (768, 1152)), pick(147, 3, 5), False),
            "guided_one": (pick(148, (1080, 1920), (720, 1280)), pick(149, (12, 0), (0, 20)),
                           (1024, 1024), 1, True)}


def cases() -> dict[str, Case]:
    out = {name: Case(s) for name, s in _settings().items()}
    orig, crop, target, b, _ = _settings()["guided_two"]
    out["float64"] = Case((list(orig), list(crop), list(target), b, True),
                          {"dtype": torch.float64})
    out["float16_on_cpu"] = Case((orig, crop, target, pick(150, 3, 1, 2), True),
                                 {"dtype": torch.float16, "device": torch.device("cpu")})
    return out


@functools.lru_cache(maxsize=4)
def _pipeline_ids(probe_draw: int) -> dict[str, torch.Tensor]:
    """The time_ids StableDiffusionXLPipeline hands its U-Net (caught at the U-Net's first
    call) for each case's settings: guidance_scale 3 when guided, 1 (no guidance) if not."""
    pipe, caught = probe_xl_pipeline(), {}

    def catch(module, args, kwargs):
        caught["ids"] = kwargs["added_cond_kwargs"]["time_ids"].clone()
    pipe.unet.register_forward_pre_hook(catch, with_kwargs=True)
    out = {}
    for name, (orig, crop, target, b, guided) in _settings().items():
        pipe(["a red circle"] * b, num_inference_steps=1, guidance_scale=3.0 if guided else 1.0,
             original_size=orig, crops_coords_top_left=crop, target_size=target,
             output_type="latent")
        out[name] = caught["ids"]
    return out


PROPS = Props()


@PROPS
def _pipeline(outs, refs):
    """equals the time ids StableDiffusionXLPipeline gives its U-Net (1 to 3 images, with and
    without guidance)

    the pipeline gives every input of the U-Net the same six numbers: where the picture came
    from, where it was cut, what is asked for. The detail names the worst case

    code: one list of the six numbers, the three pairs one after the other, and torch.tensor of
    a list that holds it once per U-Net input"""
    worst, where = worst_case(outs, _pipeline_ids(draw()))
    return worst == 0, f"max |yours - the pipeline's time_ids| = {worst:g} (worst in '{where}')"


FIELDS = ["original height", "original width", "crop top", "crop left", "target height",
          "target width"]


@PROPS
def _places(outs, refs):
    """each number in its place: sizes as (height, width), the crop between them

    the U-Net learned the six numbers in one fixed order: original size, then the crop's corner,
    then the target size, each pair height (or top) first, as the image tensors are laid out
    (rows before columns)

    code: unpack the three pairs in the order original_size, crop_top_left, target_size; do not
    reverse a pair"""
    got, want = outs["guided_two"].value, refs["guided_two"].value
    if got.ndim != 2 or got.shape[-1] != 6:
        return False, f"not checked: rows of 6 numbers expected, got shape {tuple(got.shape)}"
    wrong = [f for f, g, w in zip(FIELDS, got[0].tolist(), want[0].tolist()) if g != w]
    return not wrong, ("every field in place" if not wrong else
                       f"wrong in the first row: {', '.join(wrong)} ({got[0].tolist()} vs "
                       f"{want[0].tolist()})")


@PROPS
def _rows(outs, refs):
    """one row per U-Net input: doubled with guidance, not without

    with guidance the U-Net sees each image twice (unconditional and text halves), and every
    input needs its own row; without guidance each image is seen once

    code: the number of rows depends on batch_size and on guided"""
    bad = [f"{name}: {len(outs[name].value)} rows, {len(ref.value)} expected"
           for name, ref in refs.items() if len(outs[name].value) != len(ref.value)]
    return not bad, "; ".join(bad) or "as many rows as U-Net inputs in every case"


PROPS("""the dtype and device asked for (float64, float16)

      the time ids join the U-Net's inputs, so they take the dtype of the other inputs (float16
      on a GPU) and the device given

      code: torch.tensor(..., dtype=dtype, device=device)""",
      close("float64", "float16_on_cpu", atol=0, rtol=0))


def _ids(orig, crop, target, b, guided=True, dtype=torch.float32, device=None, order="ok",
         double="guided", rows=None):
    o, c, t = list(orig), list(crop), list(target)
    row = {"ok": o + c + t, "crop last": o + t + c, "wh": o[::-1] + c + t[::-1],
           "left top": o + c[::-1] + t, "target is original": o + c + o}[order]
    n = {"guided": 2 * b if guided else b, "never": b, "always": 2 * b}[double]
    return torch.tensor([row] * (n if rows is None else rows), dtype=dtype, device=device)


BUGS = {
    "crop and target size swapped": lambda *a, **k: _ids(*a, **k, order="crop last"),
    "sizes as (width, height)": lambda *a, **k: _ids(*a, **k, order="wh"),
    "crop as (left, top)": lambda *a, **k: _ids(*a, **k, order="left top"),
    "[held] original size given as the target": lambda *a, **k: _ids(*a, **k,
                                                                     order="target is original"),
    "not doubled for guidance": lambda *a, **k: _ids(*a, **k, double="never"),
    "doubled even without guidance": lambda *a, **k: _ids(*a, **k, double="always"),
    "[held] two rows whatever the batch": lambda *a, **k: _ids(*a, **k, rows=2),
    "[dtype] always float32": lambda o, c, t, b, g=True, dtype=None, device=None: _ids(
        o, c, t, b, g, device=device),
    "[dtype] whole numbers (an integer tensor)": lambda o, c, t, b, g=True, dtype=None,
        device=None: _ids(o, c, t, b, g, device=device, dtype=torch.long),
}


def _pipeline_layout(orig, crop, target, b, guided=True, dtype=torch.float32, device=None):
    """As diffusers builds it: one (1, 6) row, a negative copy beside it, then repeated."""
    one = torch.tensor([list(orig) + list(crop) + list(target)], dtype=dtype)
    pair = torch.cat([one, one]) if guided else one
    return pair.to(device).repeat(b, 1)


ALTERNATIVES = {
    "repeat one row": lambda o, c, t, b, guided=True, dtype=torch.float32, device=None:
        torch.tensor([[*o, *c, *t]], dtype=dtype, device=device).repeat(
            b * (2 if guided else 1), 1),
    "expand a row, built with torch.cat": lambda o, c, t, b, guided=True,
        dtype=torch.float32, device=None: torch.cat(
            [torch.as_tensor(p, dtype=dtype, device=device) for p in (o, c, t)]).expand(
            (b + b * guided), 6),
    "the pipeline's own layout": _pipeline_layout,
}


EXERCISE = exercise(
    globals(), points=2,
    summary="SDXL's micro-conditioning: six numbers per U-Net input",
    proxies=("diffusers.StableDiffusionXLPipeline._get_add_time_ids",),
    reread="10. SDXL by hand: two text encoders, a pooled embedding, six numbers")
