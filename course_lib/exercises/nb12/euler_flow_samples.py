"""Exercise `euler_flow_samples` (notebook 12): Euler's method on the flow ODE dx/dt = v(x, t),
from the noise at t = 1 (or any start) down a decreasing list of times to the data at t = 0."""
from __future__ import annotations

import torch

from course_lib import spiral
from course_lib.checking import Case, Props, close, exercise
from course_lib.exercises.common import as_list, gen, lands_on, pick, same_count, states
from course_lib.exercises.nb12.probes import (
    ProbeConvVelocity,
    ProbeVelocity,
    descending_times,
    flow_of,
    points_set,
)


# <solution cell>
@torch.no_grad()
def euler_flow_samples(velocity, ts: torch.Tensor, x: torch.Tensor):
    """Walk consecutive pairs (t, t_next) of the decreasing times `ts`, from x at time ts[0];
    each step is one Euler step of section 3's ODE with one call velocity(x, t) at the
    step's start. Yield x after every step (len(ts) - 1 states)."""
    ### BEGIN SOLUTION
    for t, t_next in zip(ts[:-1], ts[1:]):
        x = x + (t_next - t) * velocity(x, t)
        yield x
    ### END SOLUTION
# </solution cell>


def _spiral() -> torch.Tensor:
    return spiral.make_spiral(pick(1241, 200, 150, 250)).double()


def cases() -> dict[str, Case]:
    g = gen(1242)
    x, x1 = torch.randn(6, 2, generator=g), torch.randn(1, 2, generator=g)
    img = torch.randn(2, 2, 4, 4, generator=g)
    n = pick(1243, 8, 6, 10)
    uniform = torch.linspace(1, 0, n + 1)
    uneven = descending_times(1244, pick(1245, 7, 5, 9))
    part = descending_times(1246, 5, start=pick(1247, 0.8, 0.7, 0.9), end=pick(1248, 0.3, 0.2))
    K = points_set(pick(1249, 5, 3, 7), 1250)
    xk = torch.randn(48, 2, generator=g, dtype=torch.float64)
    steps = pick(1251, 20, 16, 25)
    xs = torch.randn(pick(1252, 64, 48, 80), 2, generator=g, dtype=torch.float64)
    k1 = points_set(1, 1253)
    x_one = torch.randn(8, 2, generator=g, dtype=torch.float64)
    return {
        "model, uneven times": Case((ProbeVelocity(1255), uneven, x)),
        "model, uniform times": Case((ProbeVelocity(1254), uniform, x)),
        "part of the way, one sample": Case((ProbeVelocity(1256), part, x1)),
        "images": Case((ProbeConvVelocity(1257), uneven, img)),
        "flow of K": Case((flow_of(K), descending_times(1258, 40, dtype=torch.float64), xk)),
        "flow of the spiral": Case((flow_of(_spiral()),
                                    torch.linspace(1, 0, steps + 1, dtype=torch.float64), xs)),
        "one point, few steps": Case((flow_of(k1), torch.linspace(1, 0, pick(1259, 2, 1, 3) + 1
                                                                  ).double(), x_one)),
    }


PROPS = Props()

PROPS("""one state per step: len(ts) - 1 of them

      a step goes from each time of the list to the next one, down to the last""",
      same_count("model, uneven times", "step"))


@PROPS
def _straight(outs, refs):
    """a straight flow needs no more steps: the flow of a single point lands on it exactly

    with one data point every path is a straight line walked at constant speed, so even a single
    Euler step from the noise reaches the point; a step that goes the wrong way, or asks the
    model at the wrong time, misses it

    code: t_next - t is negative: scale the velocity at the step's start, (x, t), by it and add
    the product to x"""
    k = points_set(1, 1253).double()
    final = outs["one point, few steps"].value[-1]
    gap = (final - k).abs().max().item()
    return gap < 1e-9, f"largest distance from a final sample to the point: {gap:.1e}"


PROPS("""the exact flow of a finite set K carries every sample next to a point of K

      the last step goes all the way to the last time of the list, 0, where the samples are data""",
      lands_on("flow of K", lambda: points_set(pick(1249, 5, 3, 7), 1250), tol=0.2))


@PROPS
def _spiral_dist(outs, refs):
    """the exact flow of the spiral's points lands on the spiral

    the samples must end on the curve; far from it means the steps do not follow the velocity
    from the noise at t = 1 down to t = 0

    code: the velocity model is called at the start time of each step, with the current x"""
    from course_lib import metrics2d

    curve = spiral.make_spiral(4000).double()
    mine = metrics2d.dist_to_data(outs["flow of the spiral"].value[-1], curve)
    ref = metrics2d.dist_to_data(refs["flow of the spiral"].value[-1], curve)
    return mine <= ref + 1e-6, (f"mean distance to the spiral {mine:.4f} (the course's loop: "
                                f"{ref:.4f})")


PROPS("""equals the reference step by step (a model, uniform and uneven times, part of the way, one
      sample, images, the exact flow of K)

      each step starts where the previous one ended and goes from one time of the list to the
      next, whatever the gaps between them and wherever the list starts and ends

      code: pair each time with the next one in ts, zip(ts[:-1], ts[1:]); never assume a step of
      1 / n or a start at 1""",
      close("model, uniform times", "model, uneven times", "part of the way, one sample",
            "images", "flow of K", atol=1e-5))

PROPS("""keeps float64 precision (the exact flow of K, times and points in float64)

      no float32 step in between: the times and the states stay in the inputs' dtype

      code: no .float() and no torch.tensor(...) of the times""",
      close("flow of K", atol=1e-10, rtol=1e-10))


def _walk(dt=lambda t, t_next, ts: t_next - t, at=lambda t, t_next: t, pairs=None,
          dtype=True):
    """The loop with one rule changed."""
    def loop(velocity, ts, x):
        times = ts if dtype else ts.float()
        walk = pairs(times) if pairs else zip(times[:-1], times[1:])
        for t, t_next in walk:
            x = x + dt(t, t_next, times) * velocity(x, at(t, t_next))
            yield x
    return loop


def _before_step(velocity, ts, x):
    xs = list(_walk()(velocity, ts, x))
    yield x
    yield from xs[:-1]


def _final_only(velocity, ts, x):
    return list(_walk()(velocity, ts, x))[-1]


def _in_place(velocity, ts, x):
    for t, t_next in zip(ts[:-1], ts[1:]):
        x += (t_next - t) * velocity(x, t)
        yield x


def _own_noise(velocity, ts, x):
    yield from _walk()(velocity, ts, torch.randn_like(x))


def _uniform_grid(ts):
    grid = torch.linspace(1, 0, len(ts), dtype=ts.dtype)
    return zip(grid[:-1], grid[1:])


BUGS = {
    "velocity sign: moves along +v going back in time":
        _walk(dt=lambda t, t_next, ts: t - t_next),
    "asks the model at the end of the step (t_next)": _walk(at=lambda t, t_next: t_next),
    "asks the model at 1 - t": _walk(at=lambda t, t_next: 1 - t),
    "walks the times in reverse (from 0 up to 1)":
        _walk(pairs=lambda ts: zip(ts.flip(0)[:-1], ts.flip(0)[1:])),
    "stops one step early": _walk(pairs=lambda ts: zip(ts[:-2], ts[1:-1])),
    "yields x before each step instead of after": _before_step,
    "returns only the final x": _final_only,
    "[held] steps of 1 / n (a uniform grid assumed)":
        _walk(dt=lambda t, t_next, ts: -1.0 / (len(ts) - 1)),
    "[held] a grid from 1 to 0 whatever ts says": _walk(pairs=_uniform_grid),
    "[rng] starts from its own noise": _own_noise,
    "[dtype] the times in float32": _walk(dtype=False),
    "[alias] steps the caller's x in place": _in_place,
}


def _ddim_form(velocity, ts, x):
    """The same step through the guesses of x0 and eps: re-mix them at the next time."""
    for i in range(len(ts) - 1):
        t, t_next = ts[i], ts[i + 1]
        v = velocity(x, t)
        x0_hat, eps_hat = x - t * v, x + (1 - t) * v
        x = (1 - t_next) * x0_hat + t_next * eps_hat
        yield x


def _floats(velocity, ts, x):
    times = [float(t) for t in ts]
    for t, t_next in zip(times, times[1:]):
        x = x - (t - t_next) * velocity(x, t)
        yield x


ALTERNATIVES = {
    "returns the list of states": as_list(_walk()),
    "re-mixes the x0 and eps guesses at the next time": _ddim_form,
    "Python floats for the times": _floats,
}


EXERCISE = exercise(globals(), points=3, summary="the Euler sampling loop of the flow ODE",
                    harness=states, reread="3. Sampling: Euler from t = 1 to 0",
                    proxies=("course_lib.flow.sample",))
