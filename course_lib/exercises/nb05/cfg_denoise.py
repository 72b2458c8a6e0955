"""Exercise `cfg_denoise` (notebook 05): classifier-free guidance with one batched denoiser call."""
from __future__ import annotations

import torch

from course_lib import guidance
from course_lib.checking import Case, Props, close, equals, exercise
from course_lib.exercises.common import draw, gen, pick, seeded
from course_lib.guidance import N_CLASSES, NULL


# <solution cell>
def cfg_denoise(denoiser, x: torch.Tensor, sigma, cond: torch.Tensor, w: float) -> torch.Tensor:
    """Guided eps_hat from one call of denoiser on the batch [x, x] with labels [NULL, cond]."""
    ### BEGIN SOLUTION
    sigma = torch.as_tensor(sigma, dtype=x.dtype, device=x.device).expand(x.shape[0])
    both = denoiser(torch.cat([x, x]), torch.cat([sigma, sigma]),
                    torch.cat([torch.full_like(cond, NULL), cond]))
    eps_uncond, eps_cond = both.chunk(2)
    return guidance.cfg_eps(eps_uncond, eps_cond, w)
    ### END SOLUTION
# </solution cell>


def probe_conditional(n: int = 42) -> guidance.ConditionalDenoiser:
    """A small conditional network with random weights drawn for probe n, for probing
    cfg_denoise (its parameters require grad, so the result keeps a graph)."""
    with seeded(n):  # fixed weights without touching the learner's RNG
        return guidance.ConditionalDenoiser(hidden=16, depth=1, emb_dim=4)


def _batch(n: int, size: int, dtype=torch.float32):
    """x (size, 2), sigma (size,) between 0.05 and 8 and labels (size,), drawn for probe n."""
    g = gen(n)
    x = torch.randn(size, 2, generator=g, dtype=dtype)
    sigma = torch.exp(torch.rand(size, generator=g, dtype=dtype) * 5 - 3)
    return x, sigma, torch.randint(N_CLASSES, (size,), generator=g)


def cases() -> dict[str, Case]:
    x = torch.randn(5, 2, generator=gen(43))
    if draw() == 0:
        cond, sigma = torch.tensor([0, 1, 2, 1, 0]), torch.tensor([0.1, 0.5, 1.0, 2.0, 5.0])
    else:
        _, sigma, cond = _batch(44, 5)
    x1, s1, c1 = _batch(161, 1)
    x7, s7, c7 = _batch(162, 7, torch.float64)
    return {"w1": Case((probe_conditional(), x, sigma, cond, 1.0)),
            "w0": Case((probe_conditional(), x, sigma, cond, 0.0)),
            "w3": Case((probe_conditional(), x, sigma, cond, pick(45, 3.0, 2.5, 4.5, 1.5))),
            "scalar_sigma": Case((probe_conditional(), x, torch.tensor(pick(46, 0.7, 0.3, 1.5)),
                                  cond, pick(47, 2.0, 3.5, 1.25))),
            "batch1": Case((probe_conditional(163), x1, s1, c1, pick(48, 2.5, 0.5, 6.0))),
            "odd_f64": Case((probe_conditional(164).double(), x7, s7, c7,
                             pick(49, 1.5, 3.25, 0.75)))}


PROPS = Props()


PROPS("""w = 1 equals the conditional denoiser

      the conditional half of the doubled batch carries the labels cond, and each sample keeps
      its own sigma in both halves; at w = 1 the guided combination must give exactly the
      conditional prediction

      code: split the output with .chunk(2) in the order you stacked it, then cfg_eps(eps_uncond,
      eps_cond, w), unconditional first""",
      equals(cases, "w1", lambda model, x, sigma, cond, w: model(x, sigma, cond),
             "denoiser(x, sigma, cond)"))


PROPS("""w = 0 equals the denoiser with the NULL label

      the unconditional half carries the NULL label, one per sample like cond, not label 0

      code: torch.full_like(cond, NULL) for the unconditional half of the labels""",
      equals(cases, "w0", lambda model, x, sigma, cond, w: model(
          x, sigma, torch.full_like(cond, NULL)), "denoiser(x, sigma, NULL)"))


def _both(f, x, sigma, cond, uncond):
    sigma = torch.as_tensor(sigma).expand(x.shape[0])
    return f(x, sigma, uncond), f(x, sigma, cond)


def _sigmas(x, s):
    return torch.as_tensor(s).expand(x.shape[0])


def _one_call(f, x, sigma, cond, w, swap=False):  # sigma: already (B,)
    labels = [torch.full_like(cond, NULL), cond]
    both = f(torch.cat([x, x]), torch.cat([sigma, sigma]),
             torch.cat(labels[::-1] if swap else labels))
    return guidance.cfg_eps(*both.chunk(2), w)


def _no_grad(f, x, s, c, w):
    with torch.no_grad():
        return _one_call(f, x, _sigmas(x, s), c, w)


def _nulls_in_place(f, x, s, c, w):  # "uncond = cond" names the same tensor, then fills it
    eps_cond = f(x, _sigmas(x, s), c)
    uncond = c
    uncond[:] = NULL
    return guidance.cfg_eps(f(x, _sigmas(x, s), uncond), eps_cond, w)


BUGS = {
    "label 0 as unconditional": lambda f, x, s, c, w: guidance.cfg_eps(
        *_both(f, x, s, c, torch.zeros_like(c)), w),
    "no guidance": lambda f, x, s, c, w: f(x, _sigmas(x, s), c),
    "1 + w convention": lambda f, x, s, c, w: _one_call(f, x, _sigmas(x, s), c, 1 + w),
    "halves swapped ([cond, NULL] read as [uncond, cond])":
        lambda f, x, s, c, w: _one_call(f, x, _sigmas(x, s), c, w, swap=True),
    "[held] a number sigma only (float(sigma))": lambda f, x, s, c, w: _one_call(
        f, x, torch.full((x.shape[0],), float(s)), c, w),
    "[held] a (B,) sigma only (no expand)": lambda f, x, s, c, w: _one_call(f, x, s, c, w),
    "[held] squeezes the batch dimension":
        lambda f, x, s, c, w: _one_call(f, x, _sigmas(x, s), c, w).squeeze(),
    "[grad] runs the denoiser under torch.no_grad()": _no_grad,
    "[mutates] fills cond with NULL in place": _nulls_in_place,
    "[dtype] sigma as float32": lambda f, x, s, c, w: _one_call(
        f, x, torch.as_tensor(s, dtype=torch.float32).expand(x.shape[0]), c, w),
}
ALTERNATIVES = {
    "two calls, None for unconditional": lambda f, x, s, c, w: guidance.cfg_eps(
        f(x, _sigmas(x, s), None), f(x, _sigmas(x, s), c), w),
    "repeat x and sigma": lambda f, x, s, c, w: guidance.cfg_eps(*f(
        x.repeat(2, 1), _sigmas(x, s).repeat(2), torch.cat([torch.full_like(c, NULL), c])
    ).chunk(2), w),
}

PROPS("""matches the reference at other w, with a number sigma, for a batch of 1

      sigma may be one number for the whole batch or one per sample: make it one per sample
      before doubling the batch

      code: torch.as_tensor(sigma, dtype=x.dtype).expand(x.shape[0]), then torch.cat of it with
      itself""",
      close("w3", "scalar_sigma", "batch1"))

PROPS("""keeps float64 inputs (and a float64 network) in float64, to full precision

      sigma must follow x's dtype: a float32 sigma or cast loses digits

      code: pass dtype=x.dtype when you make sigma a tensor""",
      close("odd_f64", atol=1e-10, rtol=1e-10))

EXERCISE = exercise(globals(), points=3, summary="guidance with one batched denoiser call",
                    reread="6. The guided prediction")
