"""Exercise `ddim_samples` (notebook 03): the DDIM loop over a subsequence of timesteps."""
from __future__ import annotations

import torch

from course_lib import ddpm
from course_lib.checking import Case, Props, close, exercise
from course_lib.exercises.common import as_list, gen, lands_on, pick, same_count, states
from course_lib.exercises.nb03.ddim_step import ddim_step
from course_lib.exercises.nb03.ddim_timesteps import ddim_timesteps
from course_lib.exercises.toy_models import cosine_alpha_bar, gaussian, linear_alpha_bar, points


# <solution cell>
@torch.no_grad()
def ddim_samples(model, alpha_bar: torch.Tensor, timesteps: torch.Tensor, x_T: torch.Tensor,
                 eta: float = 0.0, generator: torch.Generator | None = None):
    """Walk the descending `timesteps` with your ddim_step and model(x_t, t) -> eps_hat
    (t a Python int); each step goes to the next timestep's alpha_bar, the last one to
    alpha_bar = 1 (x0 itself). Yield x after every step. When eta > 0 each step's noise is one
    draw of torch.randn(x.shape, generator=generator, dtype=x.dtype) just before the step;
    with eta = 0 nothing is drawn."""
    ### BEGIN SOLUTION
    x = x_T
    prevs = list(timesteps[1:]) + [None]
    for t, t_prev in zip(timesteps, prevs):
        a_prev = alpha_bar[t_prev] if t_prev is not None else torch.ones((), dtype=x.dtype)
        noise = (torch.randn(x.shape, generator=generator, dtype=x.dtype) if eta > 0
                 else torch.zeros_like(x))
        x = ddim_step(x, model(x, int(t)), alpha_bar[t], a_prev, eta, noise)
        yield x
    ### END SOLUTION
# </solution cell>


def cases() -> dict[str, Case]:
    T1, T2 = pick(30, 200, 150, 250), pick(31, 120, 90, 160)
    ab_lin, ab_cos = linear_alpha_bar(T1), cosine_alpha_bar(T2)
    n1, n2 = pick(32, 13, 7, 11), pick(33, 9, 6, 14)  # neither divides T
    ts_lin = ddim_timesteps(T1, n1)
    # any descending subsequence, not only an even stride: n2 of the T2 steps, drawn
    ts_cos = torch.randperm(T2 - 1, generator=gen(42))[:n2 - 1].add(1).sort(descending=True)
    ts_cos = torch.cat([ts_cos.values, torch.zeros(1, dtype=torch.long)])
    _, den = points(6, 34)
    K, den_k = points(pick(35, 5, 3, 7), 36)
    g = gen(37)
    x, x1, xk = (torch.randn(5, 2, generator=g), torch.randn(1, 2, generator=g),
                 torch.randn(64, 2, generator=g))
    img = torch.randn(3, 1, 4, 4, generator=g)
    eta = pick(38, 0.5, 0.3, 0.8)
    return {
        "eta between": Case((ddpm.eps_model(den, ab_lin), ab_lin, ts_lin, x, eta, gen(39))),
        "eta 0": Case((ddpm.eps_model(den, ab_lin), ab_lin, ts_lin, x)),
        "eta 1, cosine, one sample": Case((ddpm.eps_model(den_k, ab_cos), ab_cos, ts_cos, x1,
                                           1.0, gen(40))),
        "eta 0, cosine, to K": Case((ddpm.eps_model(den_k, ab_cos), ab_cos, ts_cos, xk)),
        "images": Case((ddpm.eps_model(gaussian(0.5), ab_lin), ab_lin, ts_lin, img, eta,
                        gen(41))),
    }


PROPS = Props()


PROPS("""one state per timestep of the subsequence

      one DDIM update per timestep of the subsequence you are given, the last one landing on
      clean data (alpha_bar of 1)

      code: one step per entry of `timesteps`, the last one to alpha_bar = 1""",
      same_count("eta 0", "timestep"))

PROPS("""with eta = 0, lands on the data: every sample ends next to a point of K

      with eta = 0 nothing random is added, and the final update goes all the way to clean data,
      where the state is the model's guess of x0""",
      lands_on("eta 0, cosine, to K", lambda: points(pick(35, 5, 3, 7), 36)[0], tol=0.1))


PROPS("""equals the reference step by step on the same noise (eta 0 to 1, two schedules, even and
      uneven timesteps)

      each update goes from one timestep of the list to the next one in the list, never to a
      fixed stride; randomness enters only when eta is above zero, from the caller's generator

      code: pair each timestep with the next one in the list (the last with alpha_bar = 1); draw
      noise only when eta > 0, from the generator you are given, in x's dtype""",
      close("eta between", "eta 0", "eta 1, cosine, one sample", "images", atol=1e-5))


def _loop(step_to, noise_when=lambda eta: eta > 0, dtype=True, rng=True):
    """A DDIM loop with one rule changed: step_to(alpha_bar, timesteps, i, x) is the
    alpha_bar the i-th step goes to."""
    def loop(model, ab, ts, x_T, eta=0.0, generator=None):
        x = x_T
        for i, t in enumerate(ts):
            kw = {"dtype": x.dtype} if dtype else {}
            noise = (torch.randn(x.shape, generator=generator if rng else None, **kw)
                     if noise_when(eta) else torch.zeros_like(x))
            x = ddim_step(x, model(x, int(t)), ab[t], step_to(ab, ts, i, x), eta, noise)
            yield x
    return loop


def _next(ab, ts, i, x):
    return ab[ts[i + 1]] if i + 1 < len(ts) else torch.ones((), dtype=x.dtype)


def _in_place(model, ab, ts, x_T, eta=0.0, generator=None):
    for x in _loop(_next)(model, ab, ts, x_T.clone(), eta, generator):
        x_T.copy_(x)
        yield x


BUGS = {
    "last step stops at the last timestep": _loop(
        lambda ab, ts, i, x: ab[ts[i + 1]] if i + 1 < len(ts) else ab[ts[i]]),
    "steps to t - 1 instead of the next timestep": _loop(
        lambda ab, ts, i, x: ab[ts[i] - 1] if ts[i] > 0 else torch.ones((), dtype=x.dtype)),
    "[held] noise drawn even when eta = 0": _loop(_next, noise_when=lambda eta: True),
    "[held] stride T // n assumed": _loop(
        lambda ab, ts, i, x: ab[ts[i] - len(ab) // len(ts)] if ts[i] >= len(ab) // len(ts)
        else torch.ones((), dtype=x.dtype)),
    "[rng] noise from the global RNG": _loop(_next, rng=False),
    "[dtype] noise drawn in float32": _loop(_next, dtype=False),
    "[alias] writes each state into x_T": _in_place,
}


ALTERNATIVES = {"returns the list of states": as_list(_loop(_next))}


EXERCISE = exercise(globals(), points=3, summary="the DDIM loop over a timestep subsequence",
                    proxies=("diffusers.DDIMScheduler.step",), harness=states,
                    reread="3. Sampling in 50, 20 and 10 steps")
