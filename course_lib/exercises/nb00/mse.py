"""Exercise `mse` (notebook 00): mean squared error between two tensors."""
from __future__ import annotations

import torch

from course_lib.checking import Case, Props, close, exercise, is_zero
from course_lib.exercises.common import gen, pick


# <solution cell>
def mse(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """The mean squared error mse(a, b) of the equation above. a, b: the same shape, any rank.
    Returns a 0-dim tensor in their dtype."""
    ### BEGIN SOLUTION
    return ((a - b) ** 2).mean()
    ### END SOLUTION
# </solution cell>


def cases() -> dict[str, Case]:
    g = gen(0)
    a, b = torch.randn(8, 2, generator=g), torch.randn(8, 2, generator=g)
    c, d = torch.randn(4, 3, 5, generator=g), torch.randn(4, 3, 5, generator=g)
    h = gen(1)
    shape = pick(1, (5, 3), (7, 1), (3, 2, 2), (9,))
    p = torch.randn(shape, generator=h, dtype=torch.float64).requires_grad_()
    q = torch.randn(shape, generator=h, dtype=torch.float64)
    far = 1e4 + torch.randn(7, 3, generator=h)  # a large mean, differences of order 1
    return {"batch": Case((a, b)), "same": Case((a, a.clone())), "3d": Case((c, d)),
            "float64": Case((p, q)), "one": Case((p[:1].detach(), q[:1])),
            "large_mean": Case((far, far + torch.randn(7, 3, generator=h)))}


PROPS = Props()


PROPS("""is 0 when both inputs are equal

      the error is built from the element-wise differences between a and b: when the two tensors
      are equal every difference is 0, and so is the mean of their squares

      code: start from the difference a - b itself, element by element, before squaring""",
      is_zero("same", "mse(a, a)"))


BUGS = {
    "sum instead of mean": lambda a, b: ((a - b) ** 2).sum(),
    "no square (mean absolute error)": lambda a, b: (a - b).abs().mean(),
    "root mean square": lambda a, b: ((a - b) ** 2).mean().sqrt(),
    "mean over one dimension only": lambda a, b: ((a - b) ** 2).mean(dim=0),
    "forgot return": lambda a, b: None,
    "[held] divides by 2 * batch (the notebook's 2-d points)":
        lambda a, b: ((a - b) ** 2).sum() / (2 * len(a)),
    "[grad] returns a Python float": lambda a, b: ((a - b) ** 2).mean().item(),
    "[grad] detached": lambda a, b: ((a - b) ** 2).mean().detach(),
    "[dtype] computes in float32": lambda a, b: ((a.float() - b.float()) ** 2).mean(),
    "expanded square a^2 - 2ab + b^2 (cancels at large values)":
        lambda a, b: (a ** 2 - 2 * a * b + b ** 2).mean(),
}
ALTERNATIVES = {
    "F.mse_loss": lambda a, b: torch.nn.functional.mse_loss(a, b),
    "sum / numel": lambda a, b: (a - b).pow(2).sum() / a.numel(),
}

PROPS("""matches the reference on an (8, 2) batch

      square each element-wise difference, then average the squares: a mean, not a sum, and no
      square root at the end

      code: square with ** 2 and average with .mean(); .sum(), .abs() or .sqrt() compute another
      quantity""",
      close("batch"))

PROPS("""averages over every element of a (4, 3, 5) tensor

      the mean runs over all N elements at once, not along one dimension: the result is a single
      number, a 0-dim tensor

      code: .mean() without a dim argument averages over every element; .mean(dim=0) leaves a
      tensor""",
      close("3d"))

PROPS("""averages over every element whatever the shape, a single row included

      N is the number of elements of the tensors you are given: divide by how many there are,
      not by a count taken from the notebook's (B, 2) batches

      code: a.numel() counts the elements, or let .mean() count them; a fixed 2 * len(a) fits
      2-d points only""",
      close("float64", "one", atol=1e-12, rtol=1e-10))

PROPS("""stays accurate when a and b are large and close (around 10^4)

      subtract first, then square: squaring two large values and subtracting afterwards loses
      their small difference to rounding

      code: form a - b before any ** 2; the expanded square a**2 - 2*a*b + b**2 cancels in
      floating point""",
      close("large_mean"))

EXERCISE = exercise(globals(), points=1, summary="mean squared error between two tensors",
                    reread="Your first exercise")
