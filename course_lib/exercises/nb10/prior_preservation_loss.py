"""Exercise `prior_preservation_loss` (notebook 10): DreamBooth's loss, new concept + prior."""
from __future__ import annotations

import torch
from torch import nn

from course_lib.checking import Case, Props, close, exercise
from course_lib.exercises.common import gen


# <solution cell>
def prior_preservation_loss(pred: torch.Tensor, target: torch.Tensor, is_prior: torch.Tensor,
                            weight: float) -> torch.Tensor:
    """MSE over the new-concept examples + weight * MSE over the prior examples."""
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
    two = torch.tensor([False, False, False, False, True, True])
    halves = torch.tensor([False] * 3 + [True] * 3)
    return {"two_prior": Case((eps_hat, eps, two, 0.5)),
            "halves": Case((eps_hat, eps, halves, 1.0)),
            "no_prior": Case((eps_hat, eps, torch.zeros(6, dtype=torch.bool), 1.0)),
            "weight0": Case((eps_hat, eps, two, 0.0))}


def _mse(a, b):
    return ((a - b) ** 2).mean().item()


PROPS = Props()


@PROPS("equals diffusers' DreamBooth loss on equal halves",
       "mean over the new-concept examples + weight * mean over the prior ones")
def _diffusers(outs, refs):
    eps_hat, eps, _, w = cases()["halves"].args
    pred, pred_prior = eps_hat.chunk(2)
    target, target_prior = eps.chunk(2)
    want = _mse(pred, target) + w * _mse(pred_prior, target_prior)
    got = float(outs["halves"].value)
    return abs(got - want) < 1e-5, (f"equal halves: {got:.5f}, diffusers' train_dreambooth.py "
                                    f"gives {want:.5f}")


@PROPS("no prior examples gives the plain MSE (not NaN)",
       "the mean of an empty selection is NaN: add the prior term only if "
       "is_prior.any()")
def _none(outs, refs):
    eps_hat, eps, *_ = cases()["no_prior"].args
    got, want = float(outs["no_prior"].value), _mse(eps_hat, eps)
    return abs(got - want) < 1e-5, f"no prior examples: {got:.5f}, the plain MSE is {want:.5f}"


@PROPS("weight 0 is the new concept's MSE alone",
       "the weight multiplies the prior term only")
def _weight0(outs, refs):
    eps_hat, eps, is_prior, _ = cases()["weight0"].args
    got, want = float(outs["weight0"].value), _mse(eps_hat[~is_prior], eps[~is_prior])
    return abs(got - want) < 1e-5, (f"weight 0: {got:.5f}, the MSE over the new concept's "
                                    f"examples is {want:.5f}")


def _prior(eh, e, p, w, how="right"):
    sq = ((eh - e) ** 2).flatten(1).mean(1)
    if how == "one mse":
        return sq.mean()
    if how == "weight on new":
        return w * sq[~p].mean() + (sq[p].mean() if p.any() else 0)
    if how == "always prior":
        return sq[~p].mean() + w * sq[p].mean()
    if how == "batch size":
        return ((sq * ~p).sum() + w * (sq * p).sum()) / len(sq)
    return ((eh - e) ** 2)[~p].sum() + w * ((eh - e) ** 2)[p].sum()   # "sum"


BUGS = {
    "one MSE over the whole batch": lambda *a: _prior(*a, how="one mse"),
    "weight on the new concept's term": lambda *a: _prior(*a, how="weight on new"),
    "NaN without prior examples": lambda *a: _prior(*a, how="always prior"),
    "each group divided by the batch size": lambda *a: _prior(*a, how="batch size"),
    "sums instead of means": lambda *a: _prior(*a, how="sum"),
}
ALTERNATIVES = {"F.mse_loss on each group": lambda eh, e, p, w: (
    nn.functional.mse_loss(eh[~p], e[~p])
    + (w * nn.functional.mse_loss(eh[p], e[p]) if p.any() else 0))}

PROPS("matches the reference with 4 new and 2 prior examples",
      "average each group over its own examples, not over the whole batch",
      close("two_prior"))

EXERCISE = exercise(globals(), points=2, summary="DreamBooth's loss: new concept + weight x prior")
