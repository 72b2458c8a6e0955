"""Exercise `ddim_step` (notebook 03): one DDIM update from alpha_bar_t to alpha_bar_prev."""
from __future__ import annotations

import torch

from course_lib.checking import Case, Props, close, equals, exercise
from course_lib.exercises.common import gen, pick
from course_lib.exercises.nb03.ddim_noise_std import ddim_noise_std
from course_lib.exercises.nb03.probes import ddim_scheduler, linear_alpha_bar, schedule_alpha_bar


# <solution cell>
def ddim_step(x_t: torch.Tensor, eps_hat: torch.Tensor, alpha_bar_t: torch.Tensor,
              alpha_bar_prev: torch.Tensor, eta: float, noise: torch.Tensor) -> torch.Tensor:
    """One DDIM update from alpha_bar_t to alpha_bar_prev (DDIM eq. 12)."""
    ### BEGIN SOLUTION
    x0_hat = (x_t - (1 - alpha_bar_t).sqrt() * eps_hat) / alpha_bar_t.sqrt()
    s = ddim_noise_std(alpha_bar_t, alpha_bar_prev, eta)
    direction = (1 - alpha_bar_prev - s**2).sqrt() * eps_hat
    return alpha_bar_prev.sqrt() * x0_hat + direction + s * noise
    ### END SOLUTION
# </solution cell>


def _jumps() -> dict[str, tuple[str, int, int]]:
    """(schedule, n steps, t) of the cases that are compared with DDIMScheduler.step: each
    jumps from t to t - 1000 // n on that schedule (to alpha_bar = 1 below 0)."""
    n, t = pick(21, 10, 20, 8, 25), pick(22, 900, 990, 740, 455)
    return {"eta0": ("linear", n, t), "eta1": ("linear", n, t),
            "cosine": ("squaredcos_cap_v2", pick(23, 20, 10, 50), pick(24, 600, 850, 333)),
            "scaled_linear": ("scaled_linear", pick(25, 7, 10, 16), pick(26, 777, 500, 950))}


def _pair(kind: str, n: int, t: int, dtype=torch.float32):
    ab = schedule_alpha_bar(kind, dtype=dtype)
    prev = t - 1000 // n
    return ab[t], ab[prev] if prev >= 0 else torch.tensor(1.0, dtype=dtype)


def _inputs() -> dict:
    g = gen(20)
    x, e, z = (torch.randn(6, 2, generator=g) for _ in range(3))
    return dict(x=x, e=e, z=z, z2=torch.randn(6, 2, generator=g),
                x0=torch.randn(6, 2, generator=g), g=g)


def cases() -> dict[str, Case]:
    v, ab, jumps = _inputs(), linear_alpha_bar(), _jumps()
    x, e, z, g = v["x"], v["e"], v["z"], v["g"]
    t_exact = pick(27, 500, 250, 720, 980)
    x_exact = ab[t_exact].sqrt() * v["x0"] + (1 - ab[t_exact]).sqrt() * e
    one = torch.tensor(1.0)
    a, p = _pair(*jumps["eta0"])
    t_half = pick(28, 300, 150, 640, 875)
    odd = [torch.randn(5, 3, generator=g) for _ in range(3)]       # an odd batch of 3-d points
    img = [torch.randn(1, 3, 4, 4, generator=g) for _ in range(3)]  # one image
    f64 = [torch.randn(7, 2, generator=g, dtype=torch.float64) for _ in range(3)]
    a64, p64 = _pair("scaled_linear", pick(29, 10, 25, 4), pick(30, 640, 910, 360),
                     dtype=torch.float64)
    return {"eta0": Case((x, e, a, p, 0.0, z)),
            "eta0_other_noise": Case((x, e, a, p, 0.0, v["z2"])),
            "eta1": Case((x, e, a, p, 1.0, z)),
            "eta_half": Case((x, e, ab[t_half], ab[t_half - 100], pick(31, 0.5, 0.3, 0.8), z)),
            "exact": Case((x_exact, e, ab[t_exact], one, 0.0, z)),
            "cosine": Case((*odd[:2], *_pair(*jumps["cosine"]), pick(32, 0.5, 0.25, 1.0),
                            odd[2])),
            "scaled_linear": Case((*img[:2], *_pair(*jumps["scaled_linear"]),
                                   pick(33, 1.0, 0.6, 0.0), img[2])),
            "f64": Case((*f64[:2], a64, p64, pick(34, 0.7, 0.4, 0.9), f64[2])),
            "last_step": Case((odd[0], odd[1], _pair(*jumps["cosine"])[0], one,
                               pick(35, 1.0, 0.5), odd[2]))}


PROPS = Props()


@PROPS
def _diffusers(outs, refs):
    """equals DDIMScheduler.step, on the linear, cosine and scaled-linear schedules

    DDIM eq. 12: the predicted x0 brought to the previous alpha_bar, a term along eps_hat whose
    variance and the fresh noise's add up to the noise budget of the previous alpha_bar, and the
    fresh noise scaled by the std; alpha_bars are numbers, x_t may have any shape

    code: the signal term is alpha_bar_prev.sqrt() times x0_hat; the eps_hat term's weight is
    the .sqrt() of 1 - alpha_bar_prev minus s**2, with s from your ddim_noise_std"""
    all_cases, worst = cases(), 0.0
    for name, (kind, n, t) in _jumps().items():
        x, e, _, _, eta, z = all_cases[name].args
        s = ddim_scheduler(kind)
        s.set_timesteps(n)  # DDIMScheduler.step goes back 1000 // n, as the case does
        want = s.step(e, t, x, eta=eta, variance_noise=z).prev_sample
        worst = max(worst, ((outs[name].value - want).abs() / (1 + want.abs())).max().item())
    return worst < 1e-5, (f"max |yours - DDIMScheduler.step| / (1 + |step|) = {worst:.1e} "
                          "(clip_sample=False, same noise)")


@PROPS
def _deterministic(outs, refs):
    """eta = 0 is deterministic

    the fresh noise enters multiplied by the std, which is 0 at eta = 0

    code: multiply noise by the s of ddim_noise_std, not by 1 or by eta"""
    same = torch.equal(outs["eta0"].value, outs["eta0_other_noise"].value)
    return same, "eta = 0 ignores the noise" if same else "eta = 0 still uses the noise"


PROPS("""recovers x0 from an exact x_t when alpha_bar_prev = 1

      solve the closed-form noising of x_t for x0, with eps_hat in place of the true noise; at
      alpha_bar_prev = 1 that estimate is the whole result

      code: x0_hat removes (1 - alpha_bar_t).sqrt() times eps_hat from x_t, then divides by
      alpha_bar_t.sqrt(): both weights carry a square root""",
      equals(cases, "exact", lambda *args: _inputs()["x0"], "x0", atol=1e-4))


def _ddim(x, e, a_t, a_prev, eta, z, direction=True, minus_std=True, noise_scale=None):
    x0_hat = (x - (1 - a_t).sqrt() * e) / a_t.sqrt()
    s = ddim_noise_std(a_t, a_prev, eta)
    d = (1 - a_prev - (s**2 if minus_std else 0)).sqrt() * e if direction else 0
    return a_prev.sqrt() * x0_hat + d + (s if noise_scale is None else noise_scale) * z


def _in_place(x, e, a, p, eta, z):  # x_t becomes x0_hat, then the result, in the caller's memory
    s = ddim_noise_std(a, p, eta)
    x.sub_((1 - a).sqrt() * e).div_(a.sqrt())
    return x.mul_(p.sqrt()).add_((1 - p - s**2).sqrt() * e + s * z)


def _coefficients(x, e, a, p, eta, z):  # the same update, as c_x x_t + c_e eps_hat + std noise
    s = ddim_noise_std(a, p, eta)
    c_x = (p / a).sqrt()
    c_e = (1 - p - s**2).sqrt() - (p * (1 - a) / a).sqrt()
    return c_x * x + c_e * e + s * z


BUGS = {
    "no direction term": lambda *c: _ddim(*c, direction=False),
    "direction ignores the std": lambda *c: _ddim(*c, minus_std=False),
    "noise not scaled by std": lambda *c: _ddim(*c, noise_scale=1.0),
    "x0_hat without square roots": lambda x, e, a, p, eta, z: p.sqrt() * (x - (1 - a) * e) / a
    + (1 - p - ddim_noise_std(a, p, eta) ** 2).sqrt() * e + ddim_noise_std(a, p, eta) * z,
    "[held] eta = 0 only (ignores eta and the noise)":
        lambda x, e, a, p, eta, z: _ddim(x, e, a, p, 0.0, z),
    "[alias] updates x_t in place": _in_place,
    "[dtype] computes in float32": lambda x, e, a, p, eta, z: _ddim(
        x.float(), e.float(), a.float(), p.float(), eta, z.float()),
    "[dtype] alpha_bars as float32 numbers": lambda x, e, a, p, eta, z: _ddim(
        x, e, torch.tensor(float(a)), torch.tensor(float(p)), eta, z),
}
ALTERNATIVES = {"coefficients of x_t and eps_hat": _coefficients}

PROPS("""matches the reference at other eta, for an odd batch and at a last step

      the fresh noise is scaled by the std of the jump, which depends on eta, and the eps_hat
      term shrinks to leave room for it in the noise budget

      code: s = ddim_noise_std(alpha_bar_t, alpha_bar_prev, eta), and s**2 is subtracted inside
      the eps_hat term's square root""",
      close("eta_half", "cosine", "last_step"))

PROPS("""keeps float64 inputs in float64, to full precision

      compute with the tensors you are given: a float32 constant or cast loses digits

      code: no .float() and no torch.tensor(float(alpha_bar)): use the alpha_bar tensors as
      given""",
      close("f64", atol=1e-10, rtol=1e-10))

EXERCISE = exercise(globals(), points=3,
                    summary="the DDIM update (eq. 12)",
                    proxies=("diffusers.DDPMScheduler.step", "diffusers.DDIMScheduler.step"),
                    reread="2. The DDIM update")
