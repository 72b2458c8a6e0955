"""Exercise `consistency_fn` (notebook 11): the consistency function's output with LCM's
boundary-condition scalings c_skip and c_out, which make it the identity at timestep 0."""
from __future__ import annotations

import torch

from course_lib.checking import Case, Props, close, equals_input, exercise
from course_lib.exercises.common import gen, per_sample, pick


# <solution cell>
def consistency_fn(x_t: torch.Tensor, x0_hat: torch.Tensor, t: torch.Tensor,
                   sigma_data: float = 0.5, timestep_scaling: float = 10.0) -> torch.Tensor:
    """The consistency function's output (section 7, equation (3)) at integer timesteps t:
    x_t the state on DDPM's scale, x0_hat the network's data guess there, both (B, *D);
    t (B,) integer timesteps, one per sample, or a 0-dim tensor for the whole batch.
    Returns (B, *D) in x_t's dtype; where t = 0 it is x_t itself."""
    ### BEGIN SOLUTION
    scaled = timestep_scaling * t.to(x_t.dtype)
    scaled = scaled.reshape(-1, *[1] * (x_t.dim() - 1))   # one per sample, broadcast over D
    c_skip = sigma_data**2 / (scaled**2 + sigma_data**2)
    c_out = scaled / (scaled**2 + sigma_data**2).sqrt()
    return c_skip * x_t + c_out * x0_hat
    ### END SOLUTION
# </solution cell>


def _lcm(scaling: float):
    """diffusers' LCMScheduler with this timestep_scaling (its sigma_data is fixed at 0.5)."""
    from diffusers import LCMScheduler

    return LCMScheduler(timestep_scaling=scaling)


SLOW = 0.05   # a timestep_scaling at which c_skip and c_out both matter over t = 0..100
T_SPREAD = (0, 1, 5, 10, 20, 40, 100)


def cases() -> dict[str, Case]:
    g = gen(1161)
    b = pick(1162, 6, 5, 7)
    lat, lat0 = torch.randn(b, 4, 3, 3, generator=g), torch.randn(b, 4, 3, 3, generator=g)
    t_lat = torch.tensor(pick(1163, [0, 1, 19, 259, 999, 3], [0, 2, 39, 499, 979, 7],
                              [0, 1, 59, 759, 999, 5])[:b] + [0] * max(0, b - 6))
    x, x0 = 3 * torch.randn(7, 2, generator=g), torch.randn(7, 2, generator=g)
    ones = torch.ones(len(T_SPREAD), 2)
    h = gen(1164)
    x64 = torch.randn(4, 3, generator=h, dtype=torch.float64)
    x064 = torch.randn(4, 3, generator=h, dtype=torch.float64).requires_grad_()
    sd, sc = pick(1165, 1.0, 0.7, 1.5), pick(1166, 0.2, 0.1, 0.3)
    return {
        "latents, a timestep each": Case((lat, lat0, t_lat)),
        "points, one timestep for all": Case((x, x0, torch.tensor(pick(1167, 2, 1, 3)))),
        "timestep 0": Case((x.clone(), x0.clone(), torch.zeros(7, dtype=torch.long))),
        "one latent, timestep 999": Case((lat[:1].clone(), lat0[:1].clone(),
                                          torch.tensor([999]))),
        "skip part (x0_hat = 0), scaling 0.05": Case((ones, torch.zeros_like(ones),
                                                      torch.tensor(T_SPREAD)),
                                                     {"timestep_scaling": SLOW}),
        "output part (x_t = 0), scaling 0.05": Case((torch.zeros_like(ones), ones.clone(),
                                                     torch.tensor(T_SPREAD)),
                                                    {"timestep_scaling": SLOW}),
        "sigma_data and scaling given": Case((x.clone(), x0.clone(), torch.arange(7)),
                                             {"sigma_data": sd, "timestep_scaling": sc}),
        "float64, with a graph": Case((x64, x064, torch.tensor([0, 1, 3, 50]))),
    }


PROPS = Props()


PROPS("""the boundary condition: at timestep 0 it returns x_t itself

      at t = 0 the state is already data, so the consistency function must be the identity
      there, whatever the network says; c_skip is 1 and c_out is 0

      code: both scalings are functions of the scaled timestep; at 0 the skip weight is
      sigma_data squared over itself""",
      equals_input(cases, "timestep 0", 0, "x_t"))


PROPS("""far from 0 it is the network's data guess (c_skip near 0, c_out near 1)

      with LCM's timestep scaling of 10 the skip term fades within the first timesteps: at t =
      999 the output is the data guess

      code: c_out grows from 0 to 1 with the scaled timestep; c_skip falls from 1 to 0""",
      equals_input(cases, "one latent, timestep 999", 1, "x0_hat", atol=1e-5))


@PROPS
def _diffusers(outs, refs):
    """c_skip and c_out equal diffusers' LCMScheduler's at t = 0 ... 100 (timestep scaling 0.05)

    with a small timestep scaling both weights are far from 0 and 1, so each can be read off:
    x0_hat = 0 leaves c_skip times x_t, x_t = 0 leaves c_out times x0_hat

    code: work out equation (3) by hand at t = 1 with the timestep scaling 0.05 and compare:
    both weights come from the scaled timestep, one through its square only, the other through a
    square root as well"""
    sched = _lcm(SLOW)
    want = torch.tensor([sched.get_scalings_for_boundary_condition_discrete(t)
                         for t in T_SPREAD], dtype=torch.float64)           # (7, 2)
    got = torch.stack([outs["skip part (x0_hat = 0), scaling 0.05"].value[:, 0],
                       outs["output part (x_t = 0), scaling 0.05"].value[:, 0]], 1).double()
    gap = (got - want).abs().max().item()
    worst = int((got - want).abs().max(1).values.argmax())
    return gap < 1e-5, (f"at t = {T_SPREAD[worst]}: yours (c_skip, c_out) = "
                        f"({got[worst, 0]:.4f}, {got[worst, 1]:.4f}), diffusers "
                        f"({want[worst, 0]:.4f}, {want[worst, 1]:.4f})")


PROPS("""matches the reference: a timestep per sample, one for all, sigma_data and the scaling
      given

      each sample's weights come from its own timestep, broadcast over the sample's other axes;
      sigma_data and the timestep scaling are the ones passed in

      code: turn t into x_t's dtype, multiply by the scaling, and give it shape (B, 1, ..., 1)""",
      close("latents, a timestep each", "points, one timestep for all",
            "sigma_data and scaling given", "float64, with a graph"))


def _fn(skip=True, scaling=True, root=True, swap=False, square=True, first_only=False,
        dtype=True, defaults=False):
    """consistency_fn with one rule changed."""
    def f(x_t, x0_hat, t, sigma_data=0.5, timestep_scaling=10.0):
        if defaults:
            sigma_data, timestep_scaling = 0.5, 10.0
        t = t.reshape(-1)[:1] if first_only else t
        scaled = (timestep_scaling if scaling else 1.0) * t.to(x_t.dtype if dtype else
                                                               torch.float32)
        scaled = per_sample(scaled.reshape(-1), x_t) if scaled.dim() else scaled
        d2 = sigma_data**2 if square else sigma_data
        c_skip = d2 / (scaled**2 + d2)
        c_out = scaled / ((scaled**2 + sigma_data**2).sqrt() if root else
                          scaled**2 + sigma_data**2)
        if swap:
            c_skip, c_out = c_out, c_skip
        return (c_skip * x_t if skip else 0) + c_out * x0_hat
    return f


def _in_place(x_t, x0_hat, t, sigma_data=0.5, timestep_scaling=10.0):
    scaled = per_sample(timestep_scaling * t.to(x_t.dtype).reshape(-1), x_t)
    c_skip = sigma_data**2 / (scaled**2 + sigma_data**2)
    return x_t.mul_(c_skip).add_(scaled / (scaled**2 + sigma_data**2).sqrt() * x0_hat)


def _last_axis(x_t, x0_hat, t, sigma_data=0.5, timestep_scaling=10.0):
    scaled = timestep_scaling * t.to(x_t.dtype)
    return (sigma_data**2 * x_t + scaled * (scaled**2 + sigma_data**2).sqrt() * x0_hat) / (
        scaled**2 + sigma_data**2)


BUGS = {
    "missing skip scaling: the output is c_out x0_hat alone": _fn(skip=False),
    "c_skip and c_out swapped": _fn(swap=True),
    "the timestep not scaled (timestep_scaling ignored)": _fn(scaling=False),
    "c_out without the square root": _fn(root=False),
    "sigma_data not squared in c_skip": _fn(square=False),
    "[held] always sigma_data = 0.5 and scaling 10": _fn(defaults=True),
    "[held] the first sample's timestep for the whole batch": _fn(first_only=True),
    "the timesteps broadcast along the last axis": _last_axis,
    "[dtype] the timesteps made float32": _fn(dtype=False),
    "[mutates] scales x_t in place": _in_place,
}


def _one_minus(x_t, x0_hat, t, sigma_data=0.5, timestep_scaling=10.0):
    """c_skip = 1 - c_out squared: the two weights are the cosine and sine of one angle."""
    scaled = per_sample(timestep_scaling * t.to(x_t.dtype).reshape(-1), x_t)
    c_out = scaled / torch.hypot(scaled, torch.full_like(scaled, sigma_data))
    return (1 - c_out**2) * x_t + c_out * x0_hat


def _loop(x_t, x0_hat, t, sigma_data=0.5, timestep_scaling=10.0):
    """One sample at a time, with Python floats."""
    ts = t.reshape(-1).tolist() * (len(x_t) if t.dim() == 0 else 1)
    rows = []
    for x, x0, step in zip(x_t, x0_hat, ts):
        s = timestep_scaling * step
        rows.append(sigma_data**2 / (s**2 + sigma_data**2) * x
                    + s / (s**2 + sigma_data**2) ** 0.5 * x0)
    return torch.stack(rows)


ALTERNATIVES = {
    "c_skip as 1 - c_out squared, with hypot": _one_minus,
    "one sample at a time, Python floats": _loop,
}

EXERCISE = exercise(globals(), points=2,
                    proxies=("diffusers.LCMScheduler.get_scalings_for_boundary_condition_discrete",),
                    summary="the consistency function with LCM's boundary scalings",
                    reread="7. The consistency function and its boundary condition")
