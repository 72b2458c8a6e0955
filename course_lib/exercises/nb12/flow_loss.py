"""Exercise `flow_loss` (notebook 12): the flow-matching loss, the mean squared error between
the predicted velocity and eps - x0 on the straight path."""
from __future__ import annotations

import torch
from torch import nn

from course_lib.checking import Case, Props, close, exercise, is_zero
from course_lib.exercises.common import gen, per_sample, pick
from course_lib.exercises.nb12.flow_path import flow_path
from course_lib.exercises.nb12.probes import ProbeConvVelocity, ProbeVelocity, per_time


# <solution cell>
def flow_loss(velocity, x0: torch.Tensor, t: torch.Tensor, eps: torch.Tensor):
    """The flow-matching loss on one batch: put each sample on its straight path at time t
    (your flow_path), ask velocity(x_t, t) for the velocity there, and score it against the
    velocity of that sample's path. A 0-dim tensor that backpropagates."""
    ### BEGIN SOLUTION
    x_t = flow_path(x0, t, eps)  # your answer above
    v_hat = velocity(x_t, t)
    return ((v_hat - (eps - x0)) ** 2).mean()
    ### END SOLUTION
# </solution cell>


class OracleVelocity(nn.Module):
    """Knows each sample's x0, so it returns the exact velocity of its path: its loss is 0."""

    def __init__(self, x0):
        super().__init__()
        self.x0 = x0.clone()

    def forward(self, x, t, cond=None):
        t = per_time(t, x).reshape(-1, *[1] * (x.dim() - 1))
        return (x - self.x0.to(x.dtype)) / t


def cases() -> dict[str, Case]:
    g = gen(1211)
    x0, eps = torch.randn(16, 2, generator=g), torch.randn(16, 2, generator=g)
    t = 0.02 + 0.96 * torch.rand(16, generator=g)
    img, img_eps = torch.randn(3, 2, 4, 4, generator=g), torch.randn(3, 2, 4, 4, generator=g)
    img_t = torch.tensor(pick(1212, [0.2, 0.5, 0.95], [0.1, 0.7, 0.4], [0.9, 0.3, 0.6]))
    h = gen(1213)
    b = pick(1214, 5, 1, 7, 4)
    d0, d_eps = (torch.randn(b, 2, generator=h, dtype=torch.float64) for _ in range(2))
    d_t = torch.rand(b, generator=h, dtype=torch.float64)
    return {"probe": Case((ProbeVelocity(1215), x0, t, eps)),
            "small": Case((ProbeVelocity(1216), x0[:3], t[:3], eps[:3])),
            "oracle": Case((OracleVelocity(x0), x0, t, eps)),
            "images": Case((ProbeConvVelocity(1217), img, img_t, img_eps)),
            "float64": Case((ProbeVelocity(1218).double(), d0, d_t, d_eps))}


PROPS = Props()


PROPS("""a perfect velocity model gets loss 0

      the model sees the point on the path at time t and must give the velocity of that path,
      the same at every time: from the data towards the noise

      code: build x_t with your flow_path; each sample's target is its noise minus its data;
      square the error, then take the .mean()""",
      is_zero("oracle", "loss of a perfect model", atol=1e-6))


def _on_path(x0, t, e):
    return (1 - per_sample(t, x0)) * x0 + per_sample(t, x0) * e


def _no_grad(v, x0, t, e):
    with torch.no_grad():
        return ((v(_on_path(x0, t, e), t) - (e - x0)) ** 2).mean()


def _path_in_x0(v, x0, t, e):
    x0.mul_(1 - per_sample(t, x0)).add_(per_sample(t, x0) * e)
    return ((v(x0, t) - e) ** 2).mean()


BUGS = {
    "velocity sign: target x0 - eps":
        lambda v, x0, t, e: ((v(_on_path(x0, t, e), t) - (x0 - e)) ** 2).mean(),
    "t and 1 - t swapped on the path":
        lambda v, x0, t, e: ((v(_on_path(x0, 1 - t, e), t) - (e - x0)) ** 2).mean(),
    "the model is asked at 1 - t":
        lambda v, x0, t, e: ((v(_on_path(x0, t, e), 1 - t) - (e - x0)) ** 2).mean(),
    "target eps (noise prediction on the flow path)":
        lambda v, x0, t, e: ((v(_on_path(x0, t, e), t) - e) ** 2).mean(),
    "the model sees x0 + t eps (the sigma view's noising)":
        lambda v, x0, t, e: ((v(x0 + per_sample(t, x0) * e, t) - (e - x0)) ** 2).mean(),
    "sum instead of mean":
        lambda v, x0, t, e: ((v(_on_path(x0, t, e), t) - (e - x0)) ** 2).sum(),
    "[held] the first t for the whole batch":
        lambda v, x0, t, e: ((v(_on_path(x0, t[:1].expand(len(t)), e), t) - (e - x0)) ** 2
                             ).mean(),
    "[held] a (B, 1) t (2-d points only)":
        lambda v, x0, t, e: ((v((1 - t[:, None]) * x0 + t[:, None] * e, t) - (e - x0)) ** 2
                             ).mean(),
    "[grad] under torch.no_grad()": _no_grad,
    "[grad] returns a float":
        lambda v, x0, t, e: ((v(_on_path(x0, t, e), t) - (e - x0)) ** 2).mean().item(),
    "[dtype] averages in float32":
        lambda v, x0, t, e: ((v(_on_path(x0, t, e), t) - (e - x0)) ** 2).float().mean(),
    "[rng] draws its own noise": lambda v, x0, t, e: (
        lambda n: ((v(_on_path(x0, t, n), t) - (n - x0)) ** 2).mean())(torch.randn_like(x0)),
    "[alias] builds the path in x0's memory": _path_in_x0,
}
ALTERNATIVES = {
    "F.mse_loss": lambda v, x0, t, e: nn.functional.mse_loss(v(flow_path(x0, t, e), t), e - x0),
    "error as (v - eps) + x0":
        lambda v, x0, t, e: (((v(flow_path(x0, t, e), t) - e) + x0) ** 2).mean(),
}

PROPS("""matches the reference on a batch of 16, of 3 and on images

      the model is called on the points of the paths at their own times, and its answer is
      compared with each path's velocity, averaged over the batch and the coordinates

      code: one call velocity(x_t, t) with the per-sample t; average the squared error with
      .mean(), not .sum(); your flow_path already reshapes t for any rank""",
      close("probe", "small", "images"))

PROPS("""keeps float64 precision on an odd batch

      no float32 step in between: stay in the inputs' dtype from the path to the mean

      code: no .float() and no torch.tensor(...) of intermediate values""",
      close("float64", atol=1e-12, rtol=1e-10))

EXERCISE = exercise(globals(), points=2, summary="the flow-matching loss",
                    reread="2. The velocity and the loss")
