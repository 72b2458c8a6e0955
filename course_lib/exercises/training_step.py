"""Properties of a training step, read from the record its harness keeps of two calls of it:
every call to the model, the losses, the weights after each step, the settings given.
Notebook 05's harness (nb05/probes.py) and notebook 07's (nb07/harness.py) record the same
things at positions of their own, which each property is told."""
from __future__ import annotations

import math


def step_bugs(step_with) -> dict:
    """The planted bugs every training step can have, built by the exercise's own step_with
    (whose zero_grad, as_tensor, detach and rng switch them on)."""
    return {
        "no zero_grad: gradients pile up": step_with(zero_grad=False),
        "returns the loss tensor": step_with(as_tensor=True),
        "[grad] backpropagates a copy of the loss (loss.item() first)": step_with(detach=True),
        "[rng] draws from the global RNG": step_with(rng=False),
    }


def returns_floats(case: str, at: int):
    """Every step returned its loss as a Python float."""
    def test(outs, refs):
        flags = outs[case].value[at]
        ok = len(flags) > 0 and bool(flags.all())
        return ok, "a float every step" if ok else "not a float (a tensor?)"
    return test


def weights_move(case: str, at: int):
    """The step moved the model's weights."""
    def test(outs, refs):
        moved = bool(outs[case].value[at])
        return moved, "the weights moved" if moved else "the weights did not move"
    return test


def calls_once(case: str, calls: int, settings: int, steps_at: int):
    """One model call per step, on the whole batch (settings[steps_at] is the number of steps,
    the next one the batch size)."""
    def test(outs, refs):
        sizes, given = outs[case].value[calls], refs[case].value[settings]
        steps, batch = int(given[steps_at]), int(given[steps_at + 1])
        ok = len(sizes) == steps and bool((sizes == batch).all())
        return ok, (f"{len(sizes)} calls in {steps} steps, batch sizes "
                    f"{sorted(set(sizes.tolist()))} for B = {batch}")
    return test


def own_or_dropped(case: str, at: int, words: str):
    """Every condition the model saw is the sample's own or the dropped one (code 2 in the
    harness's record marks neither); `words` names them in the detail."""
    def test(outs, refs):
        seen = outs[case].value[at]
        bad = int((seen == 2).sum())
        return bad == 0 and seen.numel() > 0, f"{bad} of {seen.numel()} {words}"
    return test


def log_uniform_sigmas(case: str, sigmas: int, settings: int, batch_at: int,
                       unit: str = "sample"):
    """The sigmas the model saw: inside the schedule's range (settings[1] to settings[2]),
    half below its middle in log sigma, and not one for the whole batch (settings[batch_at])."""
    def test(outs, refs):
        sig, kept = outs[case].value[sigmas], refs[case].value[settings]
        if not len(sig):
            return False, "the model was never called"
        lo, hi = math.log(kept[1].item()), math.log(kept[2].item())
        log_s = sig.clamp(min=1e-30).log()
        inside = bool(((log_s >= lo - 1e-6) & (log_s <= hi + 1e-6)).all())
        below = (log_s < (lo + hi) / 2).double().mean().item()
        batch = int(kept[batch_at])
        varied = bool(sig[:batch].max() > sig[:batch].min())
        ok = inside and abs(below - 0.5) < 0.1 and varied
        return ok, (f"log sigma in [{log_s.min():.2f}, {log_s.max():.2f}] for [{lo:.2f}, "
                    f"{hi:.2f}]; {below:.0%} below the middle; "
                    f"{f'one sigma per {unit}' if varied else 'one sigma for the whole batch'}")
    return test


def compare(outs, refs, cases, what: int, word: str, atol: float = 1e-5, rtol: float = 1e-4):
    """Item `what` of the harness's data, step by step, on `cases` against the reference:
    (ok, detail, (first case that differs, its first step that differs, from 0))."""
    worst = 0.0
    for name in cases:
        got, want = outs[name].value[what], refs[name].value[what]
        if got.shape != want.shape:
            return False, f"case '{name}': {len(got)} steps recorded for {len(want)}", (name, 0)
        for k, (g, w) in enumerate(zip(got.double(), want.double())):
            diff = (g - w).abs()
            if not bool((diff <= atol + rtol * w.abs()).all()):
                return False, (f"case '{name}', step {k + 1}: max |yours - reference| "
                               f"{word} = {diff.max():.2e}"), (name, k)
            worst = max(worst, diff.max().item() if diff.numel() else 0.0)
    return True, f"max |yours - reference| = {worst:.1e}", (None, len(cases))


def inputs_differ(outs, refs, cases, inputs: int | None) -> str:
    """Where the record keeps the model's inputs (`inputs`), a detail saying that they differ
    already, so that losses and weights cannot agree: not judged on their own."""
    if inputs is None or compare(outs, refs, cases, inputs, "")[0]:
        return ""
    return "not checked: the model's inputs differ already (the line about them above)"


def same_losses(cases: tuple[str, ...], losses: int, inputs: int | None = None):
    """The loss of every step as the reference's."""
    def test(outs, refs):
        if skip := inputs_differ(outs, refs, cases, inputs):
            return False, skip
        return compare(outs, refs, cases, losses, "loss")[:2]
    return test


def same_weights(cases: tuple[str, ...], weights: int, losses: int, inputs: int | None = None):
    """The weights after every step as the reference's; where the losses agreed further, the
    detail asks whether each step's gradient holds that step's loss only."""
    def test(outs, refs):
        if skip := inputs_differ(outs, refs, cases, inputs):
            return False, skip
        ok, detail, where = compare(outs, refs, cases, weights, "weights")
        if not ok and where[1] > 0:
            _, _, loss_where = compare(outs, refs, cases, losses, "loss")
            if loss_where[0] != where[0] or loss_where[1] > where[1]:  # losses agree to there
                detail += (f"; the weights and losses matched up to step {where[1]}: does each "
                           "step's gradient hold that step's loss only?")
        return ok, detail
    return test
