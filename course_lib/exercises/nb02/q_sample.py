"""Exercise `q_sample` (notebook 02): closed-form x_t from x0 (DDPM eq. 4)."""
from __future__ import annotations

import torch

from course_lib import ddpm
from course_lib.checking import Case, Props, close, exercise
from course_lib.exercises.common import gen, per_sample, pick
from course_lib.exercises.nb02.alpha_bars import alpha_bars
from course_lib.exercises.nb02.probes import alpha_bar64, ddpm_scheduler


# <solution cell>
def q_sample(x0: torch.Tensor, t: torch.Tensor, eps: torch.Tensor,
             alpha_bar: torch.Tensor) -> torch.Tensor:
    """x_t in closed form: sample b of x0 taken to timestep t[b] with the noise eps given.
    x0, eps: (B, *D); t: (B,) integers; alpha_bar: (T,). Returns (B, *D)."""
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
    h = gen(15)
    c0, c_eps = torch.randn(5, 2, generator=h), torch.randn(5, 2, generator=h)
    s0, s_eps = torch.randn(1, 3, 4, 4, generator=h), torch.randn(1, 3, 4, 4, generator=h)
    T = _scaled_T()
    kind = pick(17, "scaled_linear", "linear")
    f0, f_eps = (torch.randn(7, 2, 3, generator=h, dtype=torch.float64) for _ in range(2))
    p0, p_eps = torch.randn(7, generator=h), torch.randn(7, generator=h)
    return {"batch": Case((x0, torch.tensor([0, 5, 100, 500, 900, 999]), eps, ab)),
            "images": Case((img, torch.tensor([10, 400, 990]), img_eps, ab)),
            "variance": Case((big, torch.full((4096,), pick(16, 500, 200, 700)), big_eps, ab)),
            "cosine": Case((c0, torch.randint(0, 1000, (5,), generator=h), c_eps,
                            ddpm_scheduler("squaredcos_cap_v2").alphas_cumprod)),
            "scaled_linear": Case((s0, torch.randint(0, T, (1,), generator=h), s_eps,
                                   ddpm_scheduler("scaled_linear", T).alphas_cumprod)),
            "float64": Case((f0, torch.randint(0, 300, (7,), generator=h), f_eps,
                             alpha_bar64(kind, 300))),
            "points": Case((p0, torch.randint(0, 1000, (7,), generator=h), p_eps, ab))}


PROPS = Props()


@PROPS
def _diffusers(outs, refs):
    """equals DDPMScheduler.add_noise

    the signal is weighted by the square root of alpha_bar_t and the noise by the square root of
    what is left, one minus alpha_bar_t; each sample uses the alpha_bar of its own t

    code: a = alpha_bar[t] (one value per sample), reshaped to broadcast; a.sqrt() weighs x0 and
    (1 - a).sqrt() weighs eps"""
    all_cases, worst = cases(), 0.0
    for name, kind, T in (("batch", "linear", 1000), ("cosine", "squaredcos_cap_v2", 1000),
                          ("scaled_linear", "scaled_linear", _scaled_T())):
        x0, t, eps, _ = all_cases[name].args
        want = ddpm_scheduler(kind, T).add_noise(x0, eps, t)
        worst = max(worst, (outs[name].value - want).abs().max().item())
    return worst < 1e-5, (f"max |yours - DDPMScheduler.add_noise| = {worst:.1e} (linear, "
                          "cosine and scaled-linear schedules)")


@PROPS
def _variance(outs, refs):
    """keeps unit variance (variance preserving)

    the squares of the two weights must add to 1, which holds only with both square roots in
    place

    code: take .sqrt() of both alpha_bar and one minus it: without them the weights themselves,
    not their squares, add to 1"""
    t = int(cases()["variance"].args[1][0])
    var = outs["variance"].value.var().item()
    return abs(var - 1) < 0.06, f"variance of x_t for unit-variance x0 at t = {t}: {var:.3f}"


def _scaled_T() -> int:
    return pick(18, 1000, 500, 250, 99)


def _q(x0, t, e, ab, signal=None):
    """The planted answers' own q_sample (calling the reference would trip its proxy line)."""
    a = per_sample(ab[t] if signal is None else signal, x0)
    return a.sqrt() * x0 + (1 - a).sqrt() * e


def _in_place(x0, t, e, ab):
    a = per_sample(ab[t], x0)
    return x0.mul_(a.sqrt()).add_((1 - a).sqrt() * e)


BUGS = {
    "no square roots": lambda x0, t, e, ab: per_sample(ab[t], x0) * x0
    + (1 - per_sample(ab[t], x0)) * e,
    "swapped weights": lambda x0, t, e, ab: (1 - per_sample(ab[t], x0)).sqrt() * x0
    + per_sample(ab[t], x0).sqrt() * e,
    "index t - 1": lambda x0, t, e, ab: _q(x0, (t - 1).clamp(min=0), e, ab),
    "2-d broadcast only": lambda x0, t, e, ab: ab[t][:, None].sqrt() * x0
    + (1 - ab[t][:, None]).sqrt() * e,
    "[held] the notebook's linear schedule whatever alpha_bar is given": lambda x0, t, e, ab: _q(
        x0, t, e, ab, signal=alpha_bars(ddpm.linear_betas())[t]),
    "[held] one t for the whole batch": lambda x0, t, e, ab: _q(x0, t, e, ab, signal=ab[t[0]]),
    "[dtype] alpha_bar cast to float32": lambda x0, t, e, ab: _q(x0, t, e, ab.float()),
    "[alias] scales x0 in place": _in_place,
    "[rng] draws its own noise": lambda x0, t, e, ab: _q(x0, t, torch.randn_like(x0), ab),
}
ALTERNATIVES = {
    "gather and view": lambda x0, t, e, ab: (
        lambda a: a.sqrt() * x0 + (1 - a).sqrt() * e)(
            ab.gather(0, t).view(-1, *(1,) * (x0.dim() - 1))),
}


PROPS("""works for image batches, one t per image

      one alpha_bar per image, picked by that image's own t, applied to every channel and pixel
      of that image

      code: alpha_bar[t] has shape (B,): reshape it to (B, 1, 1, 1) for images, as in notebook
      01's add_noise""",
      close("images"))

PROPS("""works for every schedule given, a batch of one and (B,) points

      read alpha_bar from the argument (any schedule, any length), one value per sample,
      whatever follows the batch dimension (nothing at all for points)

      code: index the alpha_bar argument with t; reshape with x0.dim() - 1 trailing ones (none
      for (B,) points), never a fixed [:, None] or the first t only""",
      close("cosine", "scaled_linear", "points"))

PROPS("""keeps float64 precision

      stay in the inputs' dtype: no float32 step in between

      code: no .float() on alpha_bar or on x0""",
      close("float64", atol=1e-12, rtol=1e-10))

EXERCISE = exercise(globals(), points=2,
                    summary="closed-form x_t from x0",
                    proxies=("diffusers.DDPMScheduler.add_noise",
                             "diffusers.DDIMScheduler.add_noise"),
                    reread="3. Jumping straight to step $t$")
