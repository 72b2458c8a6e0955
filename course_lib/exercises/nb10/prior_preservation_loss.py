"""Exercise `prior_preservation_loss` (notebook 10): DreamBooth's loss, new concept + prior."""
from __future__ import annotations

import torch
from torch import nn

from course_lib.checking import Case, Props, close, exercise
from course_lib.exercises.common import gen, pick


# <solution cell>
def prior_preservation_loss(pred: torch.Tensor, target: torch.Tensor, is_prior: torch.Tensor,
                            weight: float) -> torch.Tensor:
    """DreamBooth's loss L of section 3: pred and target (B, ...), is_prior (B,) bool marking
    the prior examples, weight the prior's weight. A 0-dim tensor; a batch without prior
    examples gives the new-concept term alone."""
    ### BEGIN SOLUTION
    e = ((pred - target) ** 2).flatten(1).mean(1)       # (B,): one error per example
    loss = e[~is_prior].mean()
    if is_prior.any():
        loss = loss + weight * e[is_prior].mean()
    return loss
    ### END SOLUTION
# </solution cell>


def cases() -> dict[str, Case]:
    g = gen(104)
    eps_hat, eps = torch.randn(6, 4, 8, 8, generator=g), torch.randn(6, 4, 8, 8, generator=g)
    eps_hat.requires_grad_()                     # the U-Net's prediction: training needs its grad
    two = torch.tensor([False, False, False, False, True, True])
    halves = torch.tensor([False] * 3 + [True] * 3)
    h = gen(118)
    odd_hat = torch.randn(5, 3, 4, 4, generator=h, dtype=torch.float64).requires_grad_()
    odd = torch.randn(5, 3, 4, 4, generator=h, dtype=torch.float64) + pick(119, 3.0, -2.0, 10.0)
    scattered = torch.randperm(5, generator=h) < 2   # two prior examples, anywhere in the batch
    one_hat = torch.randn(1, 2, 3, generator=h).requires_grad_()
    return {"two_prior": Case((eps_hat, eps, two, pick(120, 0.5, 0.25, 0.75, 2.0))),
            "halves": Case((eps_hat, eps, halves, pick(121, 1.0, 0.5, 1.5))),
            "no_prior": Case((eps_hat, eps, torch.zeros(6, dtype=torch.bool),
                              pick(122, 1.0, 0.3, 2.0))),
            "weight0": Case((eps_hat, eps, two, 0.0)),
            "scattered_float64": Case((odd_hat, odd, scattered, pick(123, 0.8, 0.1, 3.0))),
            "one_new": Case((one_hat, torch.randn(1, 2, 3, generator=h),
                             torch.tensor([False]), pick(124, 1.0, 0.5)))}


def _mse(a, b):
    return ((a - b) ** 2).mean().item()


PROPS = Props()


@PROPS
def _diffusers(outs, refs):
    """equals diffusers' DreamBooth loss on equal halves

    the markdown's L: the new-concept examples' mean error, plus the weight times the prior
    examples' mean error, each error a squared error averaged over one example

    code: e: square the difference, flatten the axes after the first, mean over them, shape
    (B,); then average e over each group"""
    eps_hat, eps, _, w = cases()["halves"].args
    pred, pred_prior = eps_hat.detach().chunk(2)
    target, target_prior = eps.chunk(2)
    want = _mse(pred, target) + w * _mse(pred_prior, target_prior)
    got = float(outs["halves"].value)
    return abs(got - want) < 1e-5, (f"equal halves: {got:.5f}, diffusers' train_dreambooth.py "
                                    f"gives {want:.5f}")


@PROPS
def _none(outs, refs):
    """no prior examples gives the plain MSE (not NaN)

    the mean of an empty selection is NaN: a batch without prior examples has no prior term at
    all

    code: add the prior term only if is_prior.any()"""
    worst, words = 0.0, ""
    for name in ("no_prior", "one_new"):
        eps_hat, eps, *_ = cases()[name].args
        got, want = float(outs[name].value), _mse(eps_hat.detach(), eps)
        if not abs(got - want) < worst:
            worst, words = abs(got - want), f"{got:.5f}, the plain MSE is {want:.5f}"
    return worst < 1e-5, f"no prior examples: {words}"


@PROPS
def _weight0(outs, refs):
    """weight 0 is the new concept's MSE alone

    the weight multiplies the prior term only, never the new concept's

    code: weight times the prior group's mean, added to the new group's mean"""
    eps_hat, eps, is_prior, _ = cases()["weight0"].args
    got = float(outs["weight0"].value)
    want = _mse(eps_hat.detach()[~is_prior], eps[~is_prior])
    return abs(got - want) < 1e-5, (f"weight 0: {got:.5f}, the MSE over the new concept's "
                                    f"examples is {want:.5f}")


def _prior(eh, e, p, w, how="right"):
    sq = ((eh - e) ** 2).flatten(1).mean(1)
    if how == "right":  # a learner's right answer, which the bugs below build on
        return sq[~p].mean() + (w * sq[p].mean() if p.any() else 0)
    if how == "one mse":
        return sq.mean()
    if how == "weight on new":
        return w * sq[~p].mean() + (sq[p].mean() if p.any() else 0)
    if how == "always prior":
        return sq[~p].mean() + w * sq[p].mean()
    if how == "batch size":
        return ((sq * ~p).sum() + w * (sq * p).sum()) / len(sq)
    return ((eh - e) ** 2)[~p].sum() + w * ((eh - e) ** 2)[p].sum()   # "sum"


def _chunked(eh, e, p, w):  # diffusers' script: the prior examples are the second half
    pred, pred_prior = eh.chunk(2)
    target, target_prior = e.chunk(2)
    return (nn.functional.mse_loss(pred, target)
            + w * nn.functional.mse_loss(pred_prior, target_prior))


def _float32(eh, e, p, w):
    return _prior(eh.float(), e.float(), p, w)


BUGS = {
    "one MSE over the whole batch": lambda *a: _prior(*a, how="one mse"),
    "weight on the new concept's term": lambda *a: _prior(*a, how="weight on new"),
    "NaN without prior examples": lambda *a: _prior(*a, how="always prior"),
    "each group divided by the batch size": lambda *a: _prior(*a, how="batch size"),
    "sums instead of means": lambda *a: _prior(*a, how="sum"),
    "[held] weight fixed at 1": lambda eh, e, p, w: _prior(eh, e, p, 1.0),
    "[held] the prior examples taken as the second half": _chunked,
    "[grad] returns a float (.item())": lambda *a: _prior(*a).item(),
    "[grad] rebuilt with torch.tensor": lambda *a: torch.tensor(_prior(*a).item(),
                                                                dtype=a[0].dtype),
    "[dtype] squared errors in float32": _float32,
}
ALTERNATIVES = {"F.mse_loss on each group": lambda eh, e, p, w: (
    nn.functional.mse_loss(eh[~p], e[~p])
    + (w * nn.functional.mse_loss(eh[p], e[p]) if p.any() else 0))}

PROPS("""matches the reference with 4 new and 2 prior examples

      each group is averaged over its own examples, not over the whole batch, and averaged, not
      summed

      code: e[~is_prior].mean() and e[is_prior].mean(), not sums divided by len(e)""",
      close("two_prior"))

PROPS("""matches the reference with prior examples anywhere in an odd batch, in float64

      the groups are the ones the mask gives, wherever their examples sit in the batch (not the
      second half); compute in the inputs' dtype

      code: index with is_prior and ~is_prior, not .chunk(2); no .float()""",
      close("scattered_float64", atol=1e-10, rtol=1e-10))

EXERCISE = exercise(globals(), points=2, summary="DreamBooth's loss with prior preservation",
                    reread="3. A new word for it, and keeping the old ones (DreamBooth)")
