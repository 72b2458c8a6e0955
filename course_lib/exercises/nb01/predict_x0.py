"""Exercise `predict_x0` (notebook 01): the denoised guess x0_hat from a noise prediction."""
from __future__ import annotations

import torch

from course_lib.checking import Case, Props, close, exercise
from course_lib.exercises.common import gen, per_sample, pick
from course_lib.exercises.nb01.add_noise import add_noise


# <solution cell>
def predict_x0(x: torch.Tensor, sigma: torch.Tensor, eps_hat: torch.Tensor) -> torch.Tensor:
    """The clean point that x at level sigma[b] would come from if eps_hat were its noise.
    x, eps_hat: (B, *D); sigma: (B,). Returns (B, *D)."""
    ### BEGIN SOLUTION
    return x - sigma.reshape(-1, *[1] * (x.dim() - 1)) * eps_hat
    ### END SOLUTION
# </solution cell>


def cases() -> dict[str, Case]:
    g = gen(3)
    x0, eps = torch.randn(8, 2, generator=g), torch.randn(8, 2, generator=g)
    sigma = torch.exp(torch.linspace(-3, 2, 8))
    img, img_eps = torch.randn(2, 3, 4, 4, generator=g), torch.randn(2, 3, 4, 4, generator=g)
    sig2 = torch.tensor([0.5, 4.0])
    seq, seq_eps = torch.randn(2, 3, 5, generator=g), torch.randn(2, 3, 5, generator=g)
    h = gen(6)
    shape = pick(6, (5, 3), (7,), (3, 2, 3, 3), (1, 4), (9, 2, 5))  # odd batches, any rank
    d_x = 3 * torch.randn(shape, generator=h, dtype=torch.float64)
    d_sigma = torch.exp(torch.rand(shape[0], generator=h, dtype=torch.float64) * 6 - 2)
    d_eps = torch.randn(shape, generator=h, dtype=torch.float64).requires_grad_()
    pts, pts_sigma, pts_eps = (torch.randn(5, generator=h) for _ in range(3))
    return {"invert": Case((add_noise(x0, sigma, eps), sigma, eps)),
            "images": Case((add_noise(img, sig2, img_eps), sig2, img_eps)),
            "sequences": Case((add_noise(seq, sig2, seq_eps), sig2, seq_eps)),
            "drawn": Case((d_x, d_sigma, d_eps)),
            "one_image": Case((img[:1].clone(), torch.tensor([0.7]), img_eps[:1].clone())),
            "scalars": Case((pts, pts_sigma.exp(), pts_eps))}


PROPS = Props()


@PROPS
def _recovers_x0(outs, refs):
    """recovers x0 exactly when eps_hat is the true noise

    undo the noising: x was made by adding the noise, scaled by sigma, to x0, so remove that
    same scaled noise from x

    code: subtract sigma times eps_hat from x, with sigma reshaped as in add_noise"""
    x0 = torch.randn(8, 2, generator=gen(3))
    diff = (outs["invert"].value - x0).abs().max().item()
    return diff < 1e-5, f"max |x0_hat - x0| with the true noise = {diff:.2e}"


BUGS = {
    "adds instead of subtracts": lambda x, s, e: x + per_sample(s, x) * e,
    "sigma squared": lambda x, s, e: x - per_sample(s, x) ** 2 * e,
    "forgets sigma": lambda x, s, e: x - e,
    "returns the input": lambda x, s, e: x,
    "[held] one sigma for the whole batch": lambda x, s, e: x - s[0] * e,
    "[held] a (B, 1) sigma (2-d points only)": lambda x, s, e: x - s[:, None] * e,
    "[grad] numpy round trip": lambda x, s, e: torch.from_numpy(
        (x - per_sample(s, x) * e).detach().numpy()),
    "[dtype] rebuilds sigma with torch.tensor (float32)": lambda x, s, e: x - per_sample(
        torch.tensor(s.tolist()), x) * e,
    "[alias] subtracts from x in place": lambda x, s, e: x.sub_(per_sample(s, x) * e),
}
ALTERNATIVES = {
    "add_noise with -sigma": lambda x, s, e: add_noise(x, -s, e),
}

PROPS("""works for any shape after the batch, one sigma per sample

      as in add_noise, every element of sample b uses that sample's own sigma, whatever
      dimensions follow the batch

      code: reshape sigma to (B, 1, ..., 1) with x.dim() - 1 trailing ones; a fixed [:, None]
      fits 2-d points only""",
      close("images", "sequences"))

PROPS("""works for a batch of one image, for (B,) points and in float64

      nothing depends on the batch size or on how many dimensions follow the batch (none is
      allowed); keep the inputs' own dtype

      code: for (B,) points sigma keeps shape (B,); don't rebuild sigma with torch.tensor
      (float32) or call .float()""",
      close("one_image", "scalars", "drawn", atol=1e-12, rtol=1e-12))

EXERCISE = exercise(globals(), points=2, summary="the denoised guess x0_hat",
                    reread="7. From a noise guess to a data guess")
