"""Exercise `flow_path` (notebook 12): the straight path x_t = (1 - t) x0 + t eps, one t per
sample."""
from __future__ import annotations

import torch

from course_lib.checking import Case, Props, close, equals, exercise
from course_lib.exercises.common import gen, per_sample, pick


# <solution cell>
def flow_path(x0: torch.Tensor, t: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
    """The point at time t[b] on the straight line from the data x0[b] (t = 0) to the noise
    eps[b] (t = 1). x0, eps: (B, *D); t: (B,) in [0, 1]. Returns (B, *D)."""
    ### BEGIN SOLUTION
    t = t.reshape(-1, *[1] * (x0.dim() - 1))
    return (1 - t) * x0 + t * eps
    ### END SOLUTION
# </solution cell>


def cases() -> dict[str, Case]:
    g = gen(1201)
    x0, eps = torch.randn(8, 2, generator=g), torch.randn(8, 2, generator=g)
    t = torch.rand(8, generator=g)
    ends = torch.tensor([0.0, 1.0, 0.0, 1.0, 0.0, 1.0, 0.0, 1.0])
    img, img_eps = torch.randn(3, 3, 4, 4, generator=g), torch.randn(3, 3, 4, 4, generator=g)
    h = gen(1202)
    shape = pick(1203, (5, 3), (7,), (3, 2, 3, 3), (1, 4), (9, 2, 5))  # odd batches, any rank
    d0 = torch.randn(shape, generator=h, dtype=torch.float64).requires_grad_()
    d_t = torch.rand(shape[0], generator=h, dtype=torch.float64)
    d_eps = torch.randn(shape, generator=h, dtype=torch.float64)
    return {
        "batch": Case((x0, t, eps)),
        "ends": Case((x0, ends, eps)),
        "images": Case((img, torch.tensor([0.1, 0.5, 0.9]), img_eps)),
        "drawn": Case((d0, d_t, d_eps)),
        "one_image": Case((img[:1].clone(), torch.tensor([0.3]), img_eps[:1].clone())),
    }


PROPS = Props()


PROPS("""starts at the data and ends at the noise: t = 0 gives x0, t = 1 gives eps

      at time 0 the path is at the clean sample, at time 1 at the noise; between them it moves on
      the straight line joining the two

      code: weigh x0 by one minus t and eps by t, each sample with its own t""",
      equals(cases, "ends", lambda x0, ends, eps: torch.where(ends[:, None] > 0.5, eps, x0),
             "x0 at t = 0 and eps at t = 1", atol=1e-6))


def _in_place(x0, t, e):
    x0.mul_(1 - per_sample(t, x0)).add_(per_sample(t, x0) * e)
    return x0


BUGS = {
    "t and 1 - t swapped (t = 0 is the noise)":
        lambda x0, t, e: per_sample(t, x0) * x0 + (1 - per_sample(t, x0)) * e,
    "the sigma view's x0 + t eps (the data is not shrunk)":
        lambda x0, t, e: x0 + per_sample(t, x0) * e,
    "t squared": lambda x0, t, e: (1 - per_sample(t, x0) ** 2) * x0 + per_sample(t, x0) ** 2 * e,
    "the midpoint whatever t is": lambda x0, t, e: (x0 + e) / 2,
    "[held] one t for the whole batch": lambda x0, t, e: (1 - t[0]) * x0 + t[0] * e,
    "[held] a (B, 1) t (2-d points only)": lambda x0, t, e: (1 - t[:, None]) * x0 + t[:, None] * e,
    "[grad] numpy round trip": lambda x0, t, e: torch.from_numpy(
        ((1 - per_sample(t, x0)) * x0 + per_sample(t, x0) * e).detach().numpy()),
    "[dtype] rebuilds t with torch.tensor (float32)": lambda x0, t, e: (
        lambda s: (1 - s) * x0 + s * e)(per_sample(torch.tensor(t.tolist()), x0)),
    "[alias] moves x0 in place": _in_place,
    "[rng] draws its own noise": lambda x0, t, e: (
        (1 - per_sample(t, x0)) * x0 + per_sample(t, x0) * torch.randn_like(x0)),
}
ALTERNATIVES = {
    "torch.lerp": lambda x0, t, e: torch.lerp(x0, e, per_sample(t, x0)),
    "x0 moved along eps - x0": lambda x0, t, e: x0 + per_sample(t, x0) * (e - x0),
}

PROPS("""matches the path on an (8, 2) batch, one t per row

      each row has its own time; the result mixes that row's data and noise, with more of the
      noise as its time grows

      code: reshape t to (B, 1) so row i gets t[i], then mix x0 and eps with the weights 1 - t
      and t""",
      close("batch"))

PROPS("""works for images and a batch of one

      each sample has its own time, whatever dimensions follow the batch and however many
      samples there are

      code: give t one trailing size-1 dimension per dimension of x0 after the batch (x0.dim() -
      1 of them), as add_noise did with sigma""",
      close("images", "one_image"))

PROPS("""works in float64 for any rank, to float64 precision

      nothing depends on how many dimensions follow the batch (none is allowed) or on the dtype:
      keep the inputs' own dtype

      code: no torch.tensor(...) or .float() of t: reshape the t you are given""",
      close("drawn", atol=1e-12, rtol=1e-12))

EXERCISE = exercise(globals(), points=1, summary="the straight path from data to noise",
                    reread="1. The straight path")
