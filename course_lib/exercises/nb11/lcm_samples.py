"""Exercise `lcm_samples` (notebook 11): multistep consistency sampling, a consistency jump
to the data at every timestep and fresh noise back to the next one, as LCMScheduler does."""
from __future__ import annotations

import torch

from course_lib.checking import Case, Props, close, equals, exercise
from course_lib.exercises.common import as_list, gen, pick, same_count, states


# <solution cell>
@torch.no_grad()
def lcm_samples(consistency, timesteps: torch.Tensor, alphas_cumprod: torch.Tensor,
                x: torch.Tensor, generator: torch.Generator | None = None):
    """Multistep consistency sampling (section 9) from x (B, *D) on DDPM's scale at
    timesteps[0], down the decreasing integer timesteps (n,): one call consistency(x, t) per
    timestep (t a 0-dim entry of timesteps), returning the data guess (B, *D); between two
    calls the guess is noised again to the next timestep with fresh noise drawn from
    `generator` (on the CPU in x's dtype, then moved to x's device); the last guess is not.
    Yield x after every step (n states, the last one the sample); alphas_cumprod (T,) is
    alpha_bar."""
    ### BEGIN SOLUTION
    for i, t in enumerate(timesteps):
        x0_hat = consistency(x, t)                                      # jump to the data
        if i + 1 < len(timesteps):
            a_next = alphas_cumprod[timesteps[i + 1]].to(x.dtype)
            noise = torch.randn(x.shape, generator=generator, dtype=x.dtype).to(x.device)
            x = a_next.sqrt() * x0_hat + (1 - a_next).sqrt() * noise   # back up to t_next
        else:
            x = x0_hat
        yield x
    ### END SOLUTION
# </solution cell>


def _scheduler(steps: int):
    """diffusers' LCMScheduler on Stable Diffusion's schedule, predicting the data directly
    (so it applies the boundary scalings to the data guess it is given), set to `steps`."""
    from diffusers import LCMScheduler

    sched = LCMScheduler(beta_schedule="scaled_linear", beta_start=0.00085, beta_end=0.012,
                         prediction_type="sample")
    sched.set_timesteps(steps)
    return sched


def _acp() -> torch.Tensor:
    return _scheduler(1).alphas_cumprod


def points_consistency(n: int, seed: int):
    """The data set K (n points in 2-d) and a consistency function of it on DDPM's scale:
    consistency_fn on the exact data guess of K (notebook 04's ideal denoiser), in x's dtype;
    also that data guess alone, x0_hat(x, t)."""
    from course_lib.exercises.nb11.consistency_fn import consistency_fn
    from course_lib.exercises.toy_models import points

    K, eps = points(n, seed)
    acp = _acp()

    def x0_hat(x, t):
        a = acp[int(t)].to(x.dtype)
        x_sigma, sigma = x / a.sqrt(), (1 / a - 1).sqrt()
        return x_sigma - sigma * eps(x_sigma, sigma)

    def f(x, t):
        return consistency_fn(x, x0_hat(x, t), torch.as_tensor(t))
    return K, f, x0_hat


def _diffusers_states(x0_hat, steps: int, x: torch.Tensor, seed: int) -> torch.Tensor:
    """diffusers' own loop: LCMScheduler.step on the data guesses, every prev_sample."""
    sched, g, out = _scheduler(steps), torch.Generator().manual_seed(seed), []
    for t in sched.timesteps:
        x = sched.step(x0_hat(x, t), t, x, generator=g).prev_sample
        out.append(x)
    return torch.stack(out)


def cases() -> dict[str, Case]:
    g = gen(1181)
    n_k = pick(1182, 5, 4, 6)
    _, f, _ = points_consistency(n_k, 1183)
    acp = _acp()
    steps = pick(1184, 4, 3, 5)
    x = torch.randn(pick(1185, 24, 16, 32), 2, generator=g)
    low = torch.tensor(pick(1186, [999, 599, 199, 19, 3], [999, 499, 99, 9, 1]))
    seed_a, seed_b = pick(1187, 7, 11), pick(1188, 8, 12)
    return {
        "LCMScheduler's timesteps": Case((f, _scheduler(steps).timesteps, acp, x,
                                          torch.Generator().manual_seed(seed_a))),
        "the same, another generator": Case((f, _scheduler(steps).timesteps, acp, x.clone(),
                                             torch.Generator().manual_seed(seed_b))),
        "down to timestep 1-3: lands on K": Case((f, low, acp, x.clone(),
                                                  torch.Generator().manual_seed(seed_a))),
        "one step": Case((f, _scheduler(1).timesteps, acp, x[:3].clone(),
                          torch.Generator().manual_seed(seed_a))),
        "one sample, 8 steps": Case((f, _scheduler(8).timesteps, acp, x[:1].clone(),
                                     torch.Generator().manual_seed(seed_b))),
        # every data guess 0: each intermediate state is then the noise its step added, scaled
        ZERO: Case((_answers_zero, _scheduler(steps).timesteps, acp, x[:8].clone(),
                    torch.Generator().manual_seed(seed_a))),
    }


ZERO = "a consistency function that answers 0"


def _answers_zero(x, t):
    return torch.zeros_like(x)


PROPS = Props()

PROPS("""one state per timestep: len(timesteps) of them

      every timestep is one network call and one state""",
      same_count("LCMScheduler's timesteps", "timestep"))


PROPS("""equals diffusers' LCMScheduler state by state (the same generator)

      diffusers jumps to the data guess with the boundary scalings, then draws fresh noise and
      noises the guess back to the next timestep; after the last one it keeps the guess

      code: the next timestep's alpha_bar weighs the guess (square root) and the fresh noise
      (square root of one minus it); draw the noise with the generator, x's shape and dtype""",
      equals(cases, "LCMScheduler's timesteps", lambda f, ts, acp, x, g: _diffusers_states(
          points_consistency(pick(1182, 5, 4, 6), 1183)[2], len(ts), x, pick(1187, 7, 11)),
          "diffusers' states", atol=1e-4))


@PROPS
def _fresh(outs, refs):
    """fresh noise at every step, from the generator: another generator gives other states

    a consistency model forgets where it started; what makes several steps better than one is
    the new noise that each step adds back before the next jump, drawn anew every time

    code: draw new noise from the generator at every step but the last"""
    a = outs["LCMScheduler's timesteps"].value
    b = outs["the same, another generator"].value
    gap = (a[:-1] - b[:-1]).abs().max().item() if len(a) > 1 else 0.0
    if gap <= 1e-3:
        return False, f"another generator: largest difference of the states {gap:.1e}"
    added = outs[ZERO].value[:-1].flatten(1).double()     # with x0_hat = 0: the noise, scaled
    if len(added) and bool((added.norm(dim=1) < 1e-12).any()):
        return False, f"{ZERO}: an intermediate state is 0, with no noise in it"
    unit = added / added.norm(dim=1, keepdim=True).clamp(min=1e-30)
    same = [k + 1 for k in range(len(unit) - 1) if (unit[k + 1] - unit[k]).abs().max() < 1e-6]
    return not same, (f"steps {same[0]} and {same[0] + 1} add the same noise" if same else
                      f"other states with another generator ({gap:.1e}); new noise every step")


@PROPS
def _lands(outs, refs):
    """walks the timesteps in the order given, from the noisiest: the last jump, from timestep 3,
    lands on a point of K

    the last call is at the smallest timestep, where the data guess of a finite data set is one
    of its points; the guess is returned without new noise

    code: iterate over timesteps as given and keep the last data guess as it is"""
    K, _, _ = points_consistency(pick(1182, 5, 4, 6), 1183)
    name = "down to timestep 1-3: lands on K"

    def gap(final):  # the largest distance from a final sample to K
        return torch.cdist(final.double(), K.double()).min(1).values.max().item()
    # at timestep 3 the consistency function's guess can stay a little off K (0.075 at one
    # draw in 60): allow half as much again as the reference's own gap, and 0.05 at least
    allowed = max(0.05, 1.5 * gap(refs[name].value[-1]))
    got = gap(outs[name].value[-1])
    return got <= allowed, (f"largest distance from a final sample to K: {got:.3f} "
                            f"({allowed:.2f} at most)")


PROPS("""matches the reference on one step, one sample with 8 steps

      one step is the consistency function at the first timestep and nothing else; every step
      after it starts from the state the previous one noised

      code: the state after the last step is the data guess itself""",
      close("one step", "one sample, 8 steps", atol=1e-5))


def walk(renoise=True, order=lambda ts: ts, level="next", last_noise=False, same_noise=False,
         own_eps=False, rng=False, yield_guess=False, root=True):
    """lcm_samples with one rule changed (for its planted bugs)."""
    def loop(consistency, timesteps, acp, x, generator=None):
        ts = order(timesteps)
        noise0 = torch.randn(x.shape, generator=generator, dtype=x.dtype) if same_noise else None
        for i, t in enumerate(ts):
            x0 = consistency(x, t)
            last = i + 1 == len(ts)
            if last and not last_noise:
                yield x0
                continue
            t_n = ts[i + 1] if not last and level == "next" else t
            a = acp[t_n].to(x.dtype)
            if own_eps:  # the state's own noise, as DDIM keeps it
                a_t = acp[t].to(x.dtype)
                noise = (x - a_t.sqrt() * x0) / (1 - a_t).sqrt()
            elif same_noise:
                noise = noise0
            else:
                noise = torch.randn(x.shape, dtype=x.dtype) if rng else torch.randn(
                    x.shape, generator=generator, dtype=x.dtype)
            x = (a.sqrt() * x0 + ((1 - a).sqrt() if root else 1 - a) * noise) if renoise \
                else x0
            yield x0 if yield_guess else x
    return loop


def _final_only(*args, **kwargs):
    return list(walk()(*args, **kwargs))[-1]


BUGS = {
    "no re-noising between steps: the next jump starts from the data guess":
        walk(renoise=False),
    "the timesteps in the wrong order (from the least noisy)": walk(order=lambda ts: ts.flip(0)),
    "noised back to the current timestep, not the next": walk(level="t"),
    "noise added after the last step too": walk(last_noise=True),
    "the same noise at every step": walk(same_noise=True),
    "re-noised with the state's own noise (a DDIM step), not fresh noise": walk(own_eps=True),
    "the noise weighed by 1 - alpha_bar, not its square root": walk(root=False),
    "yields the data guess, not the state, after each step": walk(yield_guess=True),
    "[rng] the global RNG instead of the generator": walk(rng=True),
    "returns only the final sample": _final_only,
}


def _randn_tensor(consistency, timesteps, acp, x, generator=None):
    """diffusers' randn_tensor for the noise, the next timestep by zip."""
    from diffusers.utils.torch_utils import randn_tensor

    nexts = list(timesteps[1:]) + [None]
    for t, t_next in zip(timesteps, nexts):
        x0 = consistency(x, t)
        if t_next is None:
            yield x0
        else:
            a = acp[t_next].to(x.dtype)
            x = a.sqrt() * x0 + (1 - a).sqrt() * randn_tensor(x.shape, generator=generator,
                                                               device=x.device, dtype=x.dtype)
            yield x


ALTERNATIVES = {
    "returns the list of states": as_list(walk()),
    "diffusers' randn_tensor, the next timestep by zip": _randn_tensor,
}

EXERCISE = exercise(globals(), points=3, summary="multistep consistency sampling",
                    harness=states,
                    proxies=("diffusers.LCMScheduler.step", "course_lib.lcm.lcm_latents"),
                    reread="9. Sampling in 1 to 8 steps: jump, noise again, jump")
