"""Exercise `train_loop` (notebook 01): the training loop of the spiral denoiser, graded by
what it does to a fresh model within a fixed budget of steps."""
from __future__ import annotations

import math

import torch

from course_lib import diffusion, spiral
from course_lib.checking import Case, Props, exercise
from course_lib.exercises.common import TRAINING_LOOPS, gen, pick, seeded, update
from course_lib.exercises.nb01.denoising_loss import denoising_loss


# <solution cell>
def train_loop(model, data: torch.Tensor, steps: int, batch_size: int, lr: float, schedule,
               generator: torch.Generator | None = None) -> list[float]:
    """Train `model` in place with Adam (learning rate lr) for `steps` steps; return the list
    of the steps' losses as Python floats. Each step: batch_size points of `data` drawn with
    replacement, one noise level per point from schedule.sample, Gaussian noise eps, and your
    denoising_loss. Every random draw uses `generator`."""
    ### BEGIN SOLUTION
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    losses = []
    for _ in range(steps):
        x0 = data[torch.randint(len(data), (batch_size,), generator=generator)]
        sigma = schedule.sample(batch_size, generator)
        eps = torch.randn(x0.shape, generator=generator, dtype=x0.dtype)
        loss = denoising_loss(model, x0, sigma, eps)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses
    ### END SOLUTION
# </solution cell>


def trained(loop):
    """The harness: run the loop on the case's model while recording every call the model
    gets, then sample from the trained model on fixed noise. Returns plain data: the losses,
    the batch size and log sigmas of each call, whether the weights moved, and the samples."""
    def run(model, data, steps, batch_size, lr, schedule, generator):
        calls = []
        def record(module, args, kwargs):
            sigma = args[1] if len(args) > 1 else kwargs.get("sigma")
            calls.append(torch.as_tensor(sigma).detach().reshape(-1).clone())
        hook = model.register_forward_pre_hook(record, with_kwargs=True)
        before = [p.detach().clone() for p in model.parameters()]
        try:
            losses = loop(model, data, steps, batch_size, lr, schedule, generator)
        finally:
            hook.remove()
        if not isinstance(losses, (list, tuple)):
            raise TypeError(f"return the list of the steps' losses; got {type(losses).__name__}")
        moved = any(not torch.equal(b, p.detach()) for b, p in zip(before, model.parameters()))
        with torch.no_grad(), torch.random.fork_rng(devices=[]):
            x = schedule.sigma_max * torch.randn(400, 2, generator=gen(9))
            sigmas = schedule.levels(25)
            for sigma, nxt in zip(sigmas[:-1], sigmas[1:]):
                x = x - (sigma - nxt) * model(x, sigma.expand(len(x)))
        return [torch.tensor([float(v) for v in losses], dtype=torch.float64),
                torch.tensor([len(c) for c in calls]),
                torch.cat(calls).log() if calls else torch.zeros(0),
                torch.tensor(float(moved)), x]
    return run


def _model(n: int):
    with seeded(n):
        return spiral.SpiralDenoiser(hidden=64, depth=2)


def cases() -> dict[str, Case]:
    data = spiral.make_spiral(pick(11, 300, 240, 360)) * pick(12, 0.9, 0.8, 1.1)
    sched = pick(13, diffusion.Schedule(0.02, 5.0), diffusion.Schedule(0.01, 8.0),
                 diffusion.Schedule(0.03, 6.0))
    return {
        "budget": Case((_model(14), data, 300, pick(15, 40, 48, 56), 3e-3, sched, gen(16))),
        "lr 0": Case((_model(17), data, 12, 8, 0.0, sched, gen(18))),
        "no steps": Case((_model(19), data, 0, 8, 1e-3, sched, gen(20))),
    }


def _curve():
    data = cases()["budget"].args[1]
    scale = data.norm(dim=1).max() / spiral.make_spiral(300).norm(dim=1).max()
    return spiral.make_spiral(4000) * scale


PROPS = Props()


@PROPS
def _one_loss(outs, refs):
    """returns one loss per step

    the loop reports how training went: one number per step, the loss of that step as a plain
    Python float, all of them in a list

    code: losses.append(loss.item()) inside the loop, return losses after it"""
    got = [len(outs[k].value[0]) for k in ("budget", "lr 0", "no steps")]
    want = [len(refs[k].value[0]) for k in ("budget", "lr 0", "no steps")]
    return got == want, f"{got} losses for {want} steps"


@PROPS
def _calls(outs, refs):
    """calls the model once per step, on batch_size points

    each step draws exactly batch_size data points, with replacement, and makes one forward pass
    of the model on them

    code: pick rows of data with torch.randint over len(data), batch_size of them,
    generator=generator; call denoising_loss once per step"""
    sizes, want = outs["budget"].value[1], refs["budget"].value[1]
    ok = len(sizes) == len(want) and bool((sizes == want[0]).all())
    return ok, (f"{len(sizes)} calls for {len(want)} steps, batch sizes "
                f"{sorted(set(sizes.tolist()))}")


@PROPS
def _sigmas(outs, refs):
    """draws one noise level per point, log-uniform over the schedule's range

    each point gets its own noise level, with log sigma uniform between the log of the
    schedule's sigma_min and the log of its sigma_max; the schedule given knows how to draw them

    code: schedule.sample(batch_size, generator) returns one sigma per point; not uniform in
    sigma, not one sigma for the whole batch"""
    log_s = outs["budget"].value[2]
    if not len(log_s):
        return False, "the model was never called"
    sched = cases()["budget"].args[5]
    lo, hi = math.log(sched.sigma_min), math.log(sched.sigma_max)
    inside = bool(((log_s >= lo - 1e-6) & (log_s <= hi + 1e-6)).all())
    below = (log_s < (lo + hi) / 2).double().mean().item()
    size = outs["budget"].value[1][0].item()
    varied = bool(log_s[:size].max() > log_s[:size].min()) if size > 1 else True
    ok = inside and abs(below - 0.5) < 0.05 and varied
    per = "one sigma per point" if varied else "one sigma for the whole batch"
    return ok, (f"log sigma in [{log_s.min():.2f}, {log_s.max():.2f}] for [{lo:.2f}, {hi:.2f}]; "
                f"{below:.0%} below the middle; {per}")


@PROPS
def _moves(outs, refs):
    """steps the optimiser: the weights move, but not with lr = 0

    one Adam optimiser over the model's weights with the learning rate given, created once
    before the loop; every step clears the old gradients, backpropagates the loss and updates
    the weights

    code: opt = torch.optim.Adam(model.parameters(), lr=lr) before the loop; opt.zero_grad(),
    loss.backward() and opt.step() inside it"""
    moved, frozen = outs["budget"].value[3].item(), outs["lr 0"].value[3].item()
    return moved == 1 and frozen == 0, (f"weights {'moved' if moved else 'did not move'} in "
                                        f"training, {'moved' if frozen else 'stayed'} with lr = 0")


@PROPS
def _falls(outs, refs):
    """the loss falls within the budget

    a loss that rises or stays flat means the updates do not follow this step's gradient: are
    the old gradients cleared every step, and is the loss you backpropagate the one computed
    from the model?

    code: call opt.zero_grad() every step; backpropagate the tensor denoising_loss returns, not
    torch.tensor(loss.item())"""
    loss = outs["budget"].value[0]
    n = len(loss)
    if n < 20:
        return False, f"{n} losses"
    first, last = loss[: n // 10].mean().item(), loss[-n // 5:].mean().item()
    return last < 0.9 * first, (f"mean loss {first:.3f} over the first tenth, {last:.3f} over "
                                "the last fifth")


@PROPS
def _samples(outs, refs):
    """the trained model's samples reach the spiral

    the trained model is sampled on fixed noise; samples far from the curve mean it learned
    little: compare your loop with the steps of section 6

    code: check the rows drawn from data, one sigma per point from schedule.sample, noise drawn
    from generator in x0's shape and dtype, and the lr given"""
    curve = _curve()
    from course_lib import metrics2d

    mine = metrics2d.dist_to_data(outs["budget"].value[4], curve)
    ref = metrics2d.dist_to_data(refs["budget"].value[4], curve)
    ok = math.isfinite(mine) and mine <= 1.5 * ref + 0.05
    return ok, f"mean distance to the curve {mine:.3f} (the course's loop: {ref:.3f})"


def _variant(zero_grad=True, step=True, sigma="log", rng=True, lr_fixed=None, batch=None,
             course=False, copy_loss=False):
    def loop(model, data, steps, batch_size, lr, schedule, generator=None):
        g = generator if rng else None
        opt = torch.optim.Adam(model.parameters(), lr=lr if lr_fixed is None else lr_fixed)
        sched = diffusion.COURSE if course else schedule
        losses = []
        for _ in range(steps):
            b = batch or batch_size
            x0 = data[torch.randint(len(data), (b,), generator=g)]
            if sigma == "log":
                s = sched.sample(b, g)
            elif sigma == "uniform":
                span = sched.sigma_max - sched.sigma_min
                s = sched.sigma_min + torch.rand(b, generator=g) * span
            else:
                s = sched.sample(1, g).expand(b)
            loss = denoising_loss(model, x0, s, torch.randn(x0.shape, generator=g))
            loss = update(loss, opt, copy_loss, zero_grad, step)
            losses.append(loss.item())
        return losses
    return loop


BUGS = {
    "no zero_grad: gradients pile up": _variant(zero_grad=False),
    "never steps the optimiser": _variant(step=False),
    "sigma uniform, not log-uniform": _variant(sigma="uniform"),
    "one sigma for the whole batch": _variant(sigma="one"),
    "[grad] backpropagates a copy of the loss": _variant(copy_loss=True),
    "[rng] draws from the global RNG": _variant(rng=False),
    "[held] learning rate fixed at 3e-3": _variant(lr_fixed=3e-3),
    "[held] batch of 64 whatever batch_size says": _variant(batch=64),
    "[held] the course's sigma range, not the schedule given": _variant(course=True),
}


EXERCISE = exercise(globals(), points=4,
                    summary="the training loop, graded by what it does to a fresh model",
                    harness=trained, float64=False,
                    proxies=TRAINING_LOOPS,
                    reread="6. Training")
