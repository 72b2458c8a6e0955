"""Exercise `q_sample` (notebook 02): closed-form x_t from x0 (DDPM eq. 4)."""
from __future__ import annotations

import torch

from course_lib import ddpm
from course_lib.checking import Case, Props, close, exercise
from course_lib.exercises.common import gen, per_sample
from course_lib.exercises.nb02.alpha_bars import alpha_bars
from course_lib.exercises.nb02.probes import ddpm_scheduler


# <solution cell>
def q_sample(x0: torch.Tensor, t: torch.Tensor, eps: torch.Tensor,
             alpha_bar: torch.Tensor) -> torch.Tensor:
    """x_t = sqrt(alpha_bar[t]) x0 + sqrt(1 - alpha_bar[t]) eps. x0, eps: (B, *D); t: (B,)."""
    ### BEGIN SOLUTION
    a = alpha_bar[t].reshape(-1, *[1] * (x0.dim() - 1))
    return a.sqrt() * x0 + (1 - a).sqrt() * eps
    ### END SOLUTION
# </solution cell>


def cases() -> dict[str, Case]:
    g = gen(10)
    ab = alpha_bars(ddpm.linear_betas())
    x0, eps = torch.randn(6, 2, generator=g), torch.randn(6, 2, generator=g)
    img, img_eps = torch.randn(3, 3, 4, 4, generator=g), torch.randn(3, 3, 4, 4, generator=g)
    big, big_eps = torch.randn(4096, 2, generator=g), torch.randn(4096, 2, generator=g)
    return {"batch": Case((x0, torch.tensor([0, 5, 100, 500, 900, 999]), eps, ab)),
            "images": Case((img, torch.tensor([10, 400, 990]), img_eps, ab)),
            "variance": Case((big, torch.full((4096,), 500), big_eps, ab))}


PROPS = Props()


@PROPS("equals DDPMScheduler.add_noise",
       "x_t = sqrt(alpha_bar[t]) * x0 + sqrt(1 - alpha_bar[t]) * eps: both square "
       "roots, signal weight sqrt(alpha_bar), noise weight sqrt(1 - alpha_bar)")
def _diffusers(outs, refs):
    c = cases()["batch"].args
    want = ddpm_scheduler().add_noise(c[0], c[2], c[1])
    diff = (outs["batch"].value - want).abs().max().item()
    return diff < 1e-5, f"max |yours - DDPMScheduler.add_noise| = {diff:.1e}"


@PROPS("keeps unit variance (variance preserving)",
       "the two weights' squares add to 1 only with the square roots in place")
def _variance(outs, refs):
    var = outs["variance"].value.var().item()
    return abs(var - 1) < 0.06, f"variance of x_t for unit-variance x0 at t = 500: {var:.3f}"


BUGS = {
    "no square roots": lambda x0, t, e, ab: per_sample(ab[t], x0) * x0
    + (1 - per_sample(ab[t], x0)) * e,
    "swapped weights": lambda x0, t, e, ab: (1 - per_sample(ab[t], x0)).sqrt() * x0
    + per_sample(ab[t], x0).sqrt() * e,
    "index t - 1": lambda x0, t, e, ab: q_sample(x0, (t - 1).clamp(min=0), e, ab),
    "2-d broadcast only": lambda x0, t, e, ab: ab[t][:, None].sqrt() * x0
    + (1 - ab[t][:, None]).sqrt() * e,
}

def _schedulers_add_noise() -> tuple:
    from diffusers import DDIMScheduler, DDPMScheduler

    return (DDPMScheduler.add_noise, DDIMScheduler.add_noise)


PROPS("works for image batches, one t per image",
      "index alpha_bar[t] (shape (B,)), then reshape to (B, 1, 1, 1) to broadcast",
      close("images"))

EXERCISE = exercise(globals(), points=2,
                    summary="closed-form x_t from x0", proxies=_schedulers_add_noise)
