"""Exercise `add_noise` (notebook 01): noise a batch, one noise level per sample."""
from __future__ import annotations

import torch

from course_lib.checking import Case, Props, close, equals_input, exercise
from course_lib.exercises.common import gen, per_sample, pick


# <solution cell>
def add_noise(x0: torch.Tensor, sigma: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
    """x0 noised to level sigma[b] for sample b, with the noise eps given.
    x0, eps: (B, *D); sigma: (B,). Returns (B, *D)."""
    ### BEGIN SOLUTION
    return x0 + sigma.reshape(-1, *[1] * (x0.dim() - 1)) * eps
    ### END SOLUTION
# </solution cell>


def cases() -> dict[str, Case]:
    g = gen(1)
    x0, eps = torch.randn(8, 2, generator=g), torch.randn(8, 2, generator=g)
    sigma = torch.exp(torch.linspace(-3, 2, 8))
    img, img_eps = torch.randn(3, 3, 4, 4, generator=g), torch.randn(3, 3, 4, 4, generator=g)
    seq, seq_eps = torch.randn(2, 3, 5, generator=g), torch.randn(2, 3, 5, generator=g)
    h = gen(4)
    shape = pick(4, (5, 3), (7,), (3, 2, 3, 3), (1, 4), (9, 2, 5))  # odd batches, any rank
    d0 = torch.randn(shape, generator=h, dtype=torch.float64).requires_grad_()
    d_sigma = torch.exp(torch.rand(shape[0], generator=h, dtype=torch.float64) * 6 - 2)
    d_eps = torch.randn(shape, generator=h, dtype=torch.float64)
    pts, pts_sigma, pts_eps = (torch.randn(5, generator=h) for _ in range(3))
    return {
        "batch": Case((x0, sigma, eps)),
        "zero": Case((x0, torch.zeros(8), eps)),
        "images": Case((img, torch.tensor([0.1, 1.0, 5.0]), img_eps)),
        "sequences": Case((seq, torch.tensor([0.3, 3.0]), seq_eps)),
        "drawn": Case((d0, d_sigma, d_eps)),
        "one_image": Case((img[:1].clone(), torch.tensor([2.5]), img_eps[:1].clone())),
        "scalars": Case((pts, pts_sigma.exp(), pts_eps)),
    }


PROPS = Props()


PROPS("""sigma = 0 leaves x0 unchanged

      the added noise is proportional to the noise level: at sigma = 0 nothing is added and
      x_sigma is x0 exactly

      code: multiply eps by the (reshaped) sigma and add the product to x0; nothing else may
      change x0""",
      equals_input(cases, "zero", 0, "x0", atol=0))


def _in_place(x0, sigma, eps):
    x0 += per_sample(sigma, x0) * eps
    return x0


BUGS = {
    "sigma squared": lambda x0, s, e: x0 + per_sample(s, x0) ** 2 * e,
    "sqrt sigma": lambda x0, s, e: x0 + per_sample(s, x0).sqrt() * e,
    "broadcast only for 2-d": lambda x0, s, e: x0 + s[:, None] * e,
    "special-cases 2-d and 4-d": lambda x0, s, e: (
        x0 + s.view(-1, 1, 1, 1) * e if x0.dim() == 4 else x0 + s[:, None] * e),
    "ignores sigma": lambda x0, s, e: x0 + e,
    "returns the input": lambda x0, s, e: x0,
    "modifies x0 in place": _in_place,
    "[held] one sigma for the whole batch": lambda x0, s, e: x0 + s[0] * e,
    "[held] fixed (B, 1, 1, 1) reshape": lambda x0, s, e: x0 + s.view(-1, 1, 1, 1) * e,
    "[grad] numpy round trip": lambda x0, s, e: torch.from_numpy(
        (x0 + per_sample(s, x0) * e).detach().numpy()),
    "[dtype] rebuilds sigma with torch.tensor (float32)": lambda x0, s, e: x0 + per_sample(
        torch.tensor(s.tolist()), x0) * e,
    "[alias] scales eps in place": lambda x0, s, e: e.mul_(per_sample(s, x0)).add_(x0),
    "[rng] draws its own noise": lambda x0, s, e: x0 + per_sample(s, x0) * torch.randn_like(x0),
}
ALTERNATIVES = {
    "view with a tuple": lambda x0, s, e: x0 + s.view((-1,) + (1,) * (x0.dim() - 1)) * e,
    "moves the batch last": lambda x0, s, e: (x0.movedim(0, -1) + s * e.movedim(0, -1)
                                              ).movedim(-1, 0),
}

PROPS("""matches the reference on an (8, 2) batch, one sigma per row

      each sample's noise is multiplied by that sample's own noise level, which is a standard
      deviation (not a variance): row b of the batch gets the b-th sigma

      code: sigma has shape (B,): sigma.reshape(-1, 1) gives (B, 1), so row i is scaled by
      sigma[i]; multiply by sigma, not sigma ** 2 or its square root""",
      close("batch"))

PROPS("""works for any shape after the batch: (3, 3, 4, 4) and (2, 3, 5)

      whatever follows the batch dimension (coordinates, channels, pixels), every element of
      sample b is scaled by the same b-th sigma

      code: give sigma one trailing size-1 dimension per dimension of x0 after the batch,
      x0.dim() - 1 of them: (B, 1, 1, 1) for images, (B, 1, 1) for (B, 3, 5); a fixed [:, None]
      or view(-1, 1, 1, 1) fits one rank only""",
      close("images", "sequences"))

PROPS("""works for a batch of one image, for (B,) points and in float64

      nothing in the formula depends on the batch size, on how many dimensions follow the batch
      (none at all is allowed) or on the dtype: keep the inputs' own dtype

      code: for (B,) points there is no trailing dimension to add and sigma keeps shape (B,);
      don't rebuild sigma with torch.tensor (float32) or call .float()""",
      close("one_image", "scalars", "drawn", atol=1e-12, rtol=1e-12))

EXERCISE = exercise(globals(), points=2,
                    summary="noise a batch, one noise level per sample",
                    reread="3. Adding noise")
