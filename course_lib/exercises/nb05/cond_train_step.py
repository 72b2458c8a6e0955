"""Exercise `cond_train_step` (notebook 05): one training step of the conditional denoiser with
condition dropout, graded by what it does (probes.py's harness: two calls per probe batch, every
call to the model watched, losses and weights compared with the course's step on the same
draws)."""
from __future__ import annotations

import torch

from course_lib import diffusion, spiral
from course_lib.checking import Case, Props, exercise
from course_lib.exercises.common import TRAINING_LOOPS, gen, pick
from course_lib.exercises.nb05.cfg_denoise import probe_conditional
from course_lib.exercises.nb05.drop_condition import drop_condition
from course_lib.exercises.nb05.probes import (
    CALLS,
    FLOATS,
    INPUTS,
    LOSSES,
    MOVED,
    SEEN,
    SETTINGS,
    SIGMAS,
    WEIGHTS,
    labels_for,
    seen_labels,
    step_with,
)
from course_lib.exercises.training_step import (
    calls_once,
    compare,
    inputs_differ,
    log_uniform_sigmas,
    own_or_dropped,
    returns_floats,
    same_losses,
    same_weights,
    step_bugs,
    weights_move,
)
from course_lib.guidance import NULL


# <solution cell>
def cond_train_step(model, x0: torch.Tensor, labels: torch.Tensor, optimizer, p_uncond: float,
                    schedule, generator: torch.Generator | None = None) -> float:
    """One training step of section 4 for the conditional denoiser `model` (called as
    model(x, sigma, cond), it returns eps_hat) on a batch of B points x0 (B, 2) with their
    labels (B,) (integers), `optimizer` holding the model's parameters. The model sees each
    label, or NULL in its place with probability p_uncond (your drop_condition), and each point
    noised as in section 4 at its own level from schedule.sample; the loss is notebook 01's L
    on the noise. Returns the loss as a Python float. Every random draw comes from
    `generator`, in this order: the dropout, the noise levels, the noise (in x0's shape and
    dtype). The caller's labels stay as they were."""
    ### BEGIN SOLUTION
    cond = drop_condition(labels, p_uncond, generator)
    sigma = schedule.sample(len(x0), generator)
    eps = torch.randn(x0.shape, generator=generator, dtype=x0.dtype)
    x = x0 + sigma[:, None] * eps
    loss = ((model(x, sigma, cond) - eps) ** 2).mean()
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return loss.item()
    ### END SOLUTION
# </solution cell>


def _case(n: int, size: int, p: float, sched, lr: float = 0.05, dtype=torch.float32) -> Case:
    """A fresh small conditional network (weights of probe n) and an SGD optimiser over it
    (plain SGD: Adam would turn rounding differences into whole steps), `size` spiral points
    with labels, p_uncond = p, the schedule and generator n + 1."""
    model = probe_conditional(n).to(dtype)
    idx = torch.randint(255, (size,), generator=gen(n + 2))
    x0 = spiral.make_spiral(255)[idx].to(dtype)
    return Case((model, x0, labels_for(n + 3, size), torch.optim.SGD(model.parameters(), lr=lr),
                 p, sched, gen(n + 1)))


def cases() -> dict[str, Case]:
    sched = pick(220, diffusion.Schedule(0.02, 5.0), diffusion.Schedule(0.005, 3.0),
                 diffusion.Schedule(0.05, 8.0))  # not the course's own range
    return {
        "odd batch": _case(221, pick(222, 7, 5, 9), pick(223, 0.5, 0.4, 0.6), sched),
        "one sample": _case(225, 1, 0.5, sched),
        "float64": _case(228, pick(229, 6, 4, 8), pick(230, 0.5, 0.35, 0.65), sched,
                         dtype=torch.float64),
        "p 0": _case(232, 9, 0.0, sched),
        "p 1": _case(235, 9, 1.0, sched),
        "many": _case(238, 300, pick(239, 0.3, 0.25, 0.35), sched, lr=0.01),
    }


PROPS = Props()
SAME = ("odd batch", "one sample", "float64")


PROPS("""returns the loss of the step as a Python float

      the step reports its loss as a plain number, taken after backpropagation

      code: the loss is a 0-dim tensor until you ask for its number, after backpropagating""",
      returns_floats("many", FLOATS))

PROPS("""calls the model once per step, on the whole batch

      one forward pass per step: all B noisy points, each with its label or NULL; the
      unconditional prediction is not a second pass in training""",
      calls_once("many", calls=CALLS, settings=SETTINGS, steps_at=3))

PROPS(f"""the model sees each point's own label or NULL, nothing else

      a dropped label becomes the "no condition" token NULL = {NULL} (the last row of the label
      embedding, not class 0); a label that is not dropped reaches the model as it is""",
      own_or_dropped("many", SEEN, "labels the model saw are neither the point's own nor NULL"))


@PROPS
def _edges(outs, refs):
    """p_uncond = 0 keeps every label, p_uncond = 1 drops all of them

    a label is dropped with probability p_uncond: never at 0, always at 1"""
    kept, dropped = outs["p 0"].value[SEEN], outs["p 1"].value[SEEN]
    ok = kept.numel() > 0 and dropped.numel() > 0 and bool((kept == 0).all()) \
        and bool((dropped == 1).all())
    return ok, (f"NULL for {(kept == 1).double().mean():.0%} of the labels at p_uncond = 0 and "
                f"{(dropped == 1).double().mean():.0%} at p_uncond = 1")


@PROPS
def _rate(outs, refs):
    """drops each label on its own, at the rate p_uncond

    one uniform number per label, not one per batch: a batch mixes dropped and kept labels, and the
    share dropped is p_uncond"""
    seen, p = outs["many"].value[SEEN], refs["many"].value[SETTINGS][0].item()
    if not seen.numel():
        return False, "the model was never called"
    rate = (seen == 1).double().mean().item()
    mixed = int(((seen == 1).any(1) & (seen == 0).any(1)).sum())
    return abs(rate - p) < 0.07 and mixed == len(seen), (
        f"{rate:.0%} of {seen.numel()} labels dropped for p_uncond = {p}; {mixed} of "
        f"{len(seen)} batches mix dropped and kept labels")


PROPS("""draws one noise level per point, log-uniform over the schedule's range

      each point gets its own noise level from the schedule you are given, spread evenly in log
      sigma between its smallest and largest level

      code: schedule.sample(B, generator) gives one sigma per point of the schedule given""",
      log_uniform_sigmas("many", sigmas=SIGMAS, settings=SETTINGS, batch_at=4, unit="point"))

PROPS("""the model gets the noisy points of the course's step on the same draws

      the model's input is the clean point plus its noise level times the noise (section 4), drawn
      from the generator in the documented order

      code: draw the dropout, then schedule.sample(B, generator), then the noise with generator=
      and dtype=x0.dtype; noise x0 (not eps or the labels) with them""",
      lambda outs, refs: compare(outs, refs, SAME, INPUTS, "in the model's input x")[:2])


PROPS("""steps the optimiser: the model's weights move

      backpropagate the loss itself (the tensor the model's output went into) and step the
      optimiser you are given""",
      weights_move("odd batch", MOVED))


@PROPS
def _noise_dtype(outs, refs):
    """draws the noise in x0's dtype: float64 points get float64 noise, to the last digit

    the noise is drawn in the dtype of the points it is added to; noise drawn in float32 and
    added to float64 points is off in the eighth digit

    code: torch.randn(x0.shape, generator=generator, dtype=x0.dtype)"""
    if skip := inputs_differ(outs, refs, ("float64",), INPUTS):
        return False, skip
    return compare(outs, refs, ("float64",), INPUTS, "in the model's input x", atol=1e-12,
                   rtol=1e-10)[:2]

PROPS("""the same losses as the course's step on the same draws

      the loss is notebook 01's L: the squared error between the predicted and the true noise,
      averaged over the batch and the coordinates

      code: compare the model's output with the noise eps, not with x0; take the mean""",
      same_losses(SAME, LOSSES, inputs=INPUTS))

PROPS("""the same weights as the course's step after every step

      each step must apply its own gradient, and only once

      code: each step must apply its own gradient: clear the old ones, backpropagate the loss, step
      the optimiser once""",
      same_weights(SAME, WEIGHTS, LOSSES, inputs=INPUTS))


def _reuses_answer(model, x0, labels, optimizer, p_uncond, schedule, generator=None):
    cond = drop_condition(labels, p_uncond, generator)  # an earlier answer, called by name
    sigma = schedule.sample(len(x0), generator).to(x0.dtype)
    eps = torch.randn(x0.shape, generator=generator, dtype=x0.dtype)
    eps_hat = model(x0 + diffusion.append_dims(sigma, x0.dim()) * eps, sigma, cond)
    loss = torch.nn.functional.mse_loss(eps_hat, eps)
    loss.backward()
    optimizer.step()
    optimizer.zero_grad()
    return float(loss.detach())


BUGS = {
    **step_bugs(step_with),
    "one draw drops the whole batch at once": step_with(drop="batch"),
    "drops with probability 1 - p_uncond": step_with(drop="flip"),
    "drops to label 0, not NULL": step_with(null=0),
    "never steps the optimiser": step_with(step=False),
    "noise added to x0, but the model gets the clean x0": step_with(clean_input=True),
    "the loss compares with x0, not the noise": step_with(target="x0"),
    "noise drawn before sigma": step_with(order="dns"),
    "sigma uniform, not log-uniform": step_with(sigma="uniform"),
    "one sigma for the whole batch": step_with(sigma="one"),
    "[held] p_uncond fixed at 0.2": step_with(p_fixed=0.2),
    "[mutates] writes NULL into the caller's labels": step_with(in_place=True),
    "[dtype] the noise drawn in float32": step_with(noise_dtype=False),
}
ALTERNATIVES = {
    "drop_condition by name, zero_grad after the step, mse_loss": _reuses_answer,
}


EXERCISE = exercise(globals(), points=4, summary="one training step with condition dropout, "
                    "graded by what it does to a small conditional model",
                    proxies=("course_lib.guidance.train_conditional", *TRAINING_LOOPS),
                    harness=seen_labels, float64=False, reread="4. Training")
