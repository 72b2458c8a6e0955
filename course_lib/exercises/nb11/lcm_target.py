"""Exercise `lcm_target` (notebook 11): latent consistency distillation's target, the EMA
target network's consistency output after one guided DDIM step of the teacher."""
from __future__ import annotations

import torch

from course_lib.checking import Case, Props, close, equals, exercise
from course_lib.exercises.common import gen, per_sample, pick
from course_lib.exercises.nb11.probes import ProbeNet, sd_alpha_bar


# <solution cell>
def lcm_target(teacher, target, x_t: torch.Tensor, t: torch.Tensor, s: torch.Tensor,
               alphas_cumprod: torch.Tensor, cond, uncond, w: float) -> torch.Tensor:
    """The distillation target of section 8 for states x_t (B, *D) on DDPM's scale at integer
    timesteps t (B,): the teacher's guided move along its ODE to the earlier timesteps s
    (B,), 0 <= s <= t (equation (4), a DDIM step), then the target network's consistency
    output there (equation (5)). teacher(x, t, cond) -> its noise guess (B, *D); target(x,
    t, cond) -> consistency output (B, *D); uncond is the unconditional input (one row,
    shared by the batch: call the teacher on it separately), w the guidance scale (w = 1: no
    guidance); alphas_cumprod (T,) is the training schedule's alpha_bar. Returns (B, *D) in
    x_t's dtype, a fixed goal for the student: no gradient reaches the teacher, the target
    network or the inputs."""
    ### BEGIN SOLUTION
    with torch.no_grad():
        eps_cond, eps_uncond = teacher(x_t, t, cond), teacher(x_t, t, uncond)
        eps = eps_uncond + w * (eps_cond - eps_uncond)                  # guided noise guess
        a_t = alphas_cumprod[t].to(x_t.dtype).reshape(-1, *[1] * (x_t.dim() - 1))
        a_s = alphas_cumprod[s].to(x_t.dtype).reshape(-1, *[1] * (x_t.dim() - 1))
        x0 = (x_t - (1 - a_t).sqrt() * eps) / a_t.sqrt()              # its data guess
        x_s = a_s.sqrt() * x0 + (1 - a_s).sqrt() * eps                 # DDIM: t -> s
        return target(x_s, s, cond)
    ### END SOLUTION
# </solution cell>


def _identity(x, t, cond):
    return x + 0


def _asked(x, t, cond):
    """A target network that answers with what it was asked: the timestep, and 1000 times
    the condition (nothing of the state but its shape)."""
    return x * 0 + torch.as_tensor(t).to(x.dtype).reshape(-1, 1) + 1000 * cond.to(x.dtype)


def cases() -> dict[str, Case]:
    g = gen(1171)
    b = pick(1172, 6, 5, 8)
    x = torch.randn(b, 3, generator=g)
    t = torch.tensor(pick(1173, [999, 519, 259, 39, 19, 779, 139, 619], [979, 499, 19, 59,
                                                                          339, 899, 159, 79]))[:b]
    s = (t - 20).clamp(min=0)
    cond, uncond = torch.randn(b, 3, generator=g), torch.randn(1, 3, generator=g)
    w = pick(1174, 3.0, 2.0, 5.0)
    acp = sd_alpha_bar()
    same_t = torch.full((4,), pick(1175, 519, 399, 719))
    x4, c4 = torch.randn(4, 3, generator=g), torch.randn(4, 3, generator=g)
    x_grad = torch.randn(1, 3, generator=g).requires_grad_()
    return {
        "probe nets": Case((ProbeNet(1176), ProbeNet(1177), x, t, s, acp, cond, uncond, w)),
        "identity target: the teacher's DDIM step": Case((ProbeNet(1176), _identity, x.clone(),
                                                          t, s, acp, cond, uncond, w)),
        "w = 1, identity target": Case((ProbeNet(1178), _identity, x.clone(), t, s, acp, cond,
                                        uncond, 1.0)),
        "one timestep for all, identity target": Case((ProbeNet(1179), _identity, x4, same_t,
                                                       same_t - 20, acp, c4, uncond, w)),
        "a step of length 0": Case((ProbeNet(1176), ProbeNet(1177), x.clone(), t, t.clone(),
                                    acp, cond, uncond, w)),
        "x_t with a graph, one sample": Case((ProbeNet(1180), ProbeNet(1181), x_grad,
                                              t[:1], s[:1], acp, cond[:1], uncond, w)),
        "a target network that says what it is asked": Case((ProbeNet(1176), _asked,
                                                             x.clone(), t, s, acp, cond,
                                                             uncond, w)),
    }


PROPS = Props()


@PROPS
def _no_grad(outs, refs):
    """carries no gradient: a fixed goal for the student

    the target stands still while the student moves towards it; gradients through it would also
    pull the teacher and the target network, and cost memory and time

    code: compute it inside a block that switches off gradient tracking"""
    bad = [k for k in ("probe nets", "x_t with a graph, one sample") if outs[k].requires_grad]
    return not bad, (f"case '{bad[0]}': the result requires grad" if bad else
                     "no graph behind the result")


def _ddim(teacher, x, t, s, acp, cond, uncond, w):
    """The guided DDIM step written in the sigma view (independently of the reference)."""
    eps = teacher(x, t, uncond) + w * (teacher(x, t, cond) - teacher(x, t, uncond))
    a_t, a_s = per_sample(acp[t].double(), x), per_sample(acp[s].double(), x)
    sig_t, sig_s = (1 / a_t - 1).sqrt(), (1 / a_s - 1).sqrt()
    x0 = x.double() / a_t.sqrt() - sig_t * eps.double()
    return (x0 + sig_s * eps.double()) * a_s.sqrt()


def _diffusers_ddim(teacher, target, x, t, s, acp, cond, uncond, w):
    """diffusers' DDIMScheduler (SD's schedule, 50 steps) on the teacher's guided guess, for
    one timestep shared by the batch."""
    from diffusers import DDIMScheduler

    sched = DDIMScheduler(beta_schedule="scaled_linear", beta_start=0.00085, beta_end=0.012,
                          clip_sample=False, set_alpha_to_one=False)
    sched.set_timesteps(50)
    eps = teacher(x, t, uncond) + w * (teacher(x, t, cond) - teacher(x, t, uncond))
    return sched.step(eps, int(t[0]), x).prev_sample


PROPS("""with an identity target network it is the teacher's guided DDIM step from t to s

      the teacher moves x_t along its own probability-flow ODE to the earlier timestep: its data
      guess is kept, and its noise guess is put back at the noise level of s

      code: equation (4): the data guess is made with alpha_bar at t, the new state with
      alpha_bar at s, and the noise guess in both is the guided one""",
      equals(cases, "identity target: the teacher's DDIM step",
             lambda teacher, target, *rest: _ddim(teacher, *rest), "the guided DDIM step",
             atol=1e-4))

PROPS("""the guidance scale is used as in notebook 05 (w = 1: the conditional guess alone)

      classifier-free guidance starts from the unconditional guess and goes w times the way to
      the conditional one; at w = 1 it lands on the conditional guess

      code: unconditional plus w times (conditional minus unconditional)""",
      equals(cases, "w = 1, identity target",   # at w = 1 the unconditional input must not matter
             lambda teacher, target, x, t, s, acp, cond, uncond, w: _ddim(
                 teacher, x, t, s, acp, cond, cond, 1.0), "the conditional step", atol=1e-4))

PROPS("""equals diffusers' DDIMScheduler.step to the timestep 20 below (one timestep for all)

      LCM's teacher takes one DDIM step of a 50-step schedule: diffusers' DDIM with 50 inference
      steps steps from t to t - 20

      code: the state at s is built from the teacher's data guess and noise guess at t""",
      equals(cases, "one timestep for all, identity target", _diffusers_ddim, "diffusers",
             atol=1e-4))


PROPS("""a step of length 0 (s = t) gives the target network's output at x_t

      from t to t the teacher does not move: only the target network acts, at x_t, at that
      timestep, with the prompt's condition

      code: call the target network on the state the teacher reached, at s, with cond""",
      equals(cases, "a step of length 0", lambda teacher, target, x, t, s, acp, cond, uncond, w:
             target(x, t, cond), "target(x_t, t, cond)"))


@PROPS
def _asked_at_s(outs, refs):
    """asks the target network at the earlier timestep s, for the prompt

    the consistency target is what the target network says where the teacher's step ended: at
    timestep s, not t, and for the prompt's condition, not the empty one

    code: target(x_s, s, cond)"""
    _, _, x, t, s, _, cond, uncond, _ = cases()["a target network that says what it is asked"].args
    got = outs["a target network that says what it is asked"].value
    asked = {"at s, for the prompt": (s, cond), "at t instead of s": (t, cond),
             "for the empty prompt instead of the prompt": (s, uncond),
             "at t, for the empty prompt": (t, uncond)}
    which = [k for k, (when, c) in asked.items()
             if torch.allclose(got, _asked(x, when, c.expand_as(cond)), atol=1e-3)]
    return which[:1] == ["at s, for the prompt"], (
        f"the target network was asked {which[0]}" if which else
        "the target network was asked at other timesteps or conditions")


PROPS("""matches the reference: probe networks, per-sample timesteps, a batch of one

      the target network's consistency output at the earlier timestep s, on the state the
      teacher's guided step reached, for the prompt's condition

      code: alpha_bar at t and at s, each with shape (B, 1, ..., 1) to broadcast over x_t""",
      close("probe nets", "x_t with a graph, one sample", "a step of length 0"))


def _target(grad=False, guide=lambda c, u, w: u + w * (c - u), noise_at="s", root=True,
            step=True, target_t="s", target_cond="cond", dtype=True):
    """lcm_target with one rule changed."""
    def fn(teacher, target, x_t, t, s, acp, cond, uncond, w):
        with torch.enable_grad() if grad else torch.no_grad():
            eps = guide(teacher(x_t, t, cond), teacher(x_t, t, uncond), w)
            a = acp if dtype else acp.float()
            a_t = per_sample(a[t].to(x_t.dtype if dtype else torch.float32), x_t)
            a_s = per_sample(a[s].to(x_t.dtype if dtype else torch.float32), x_t)
            sq = (lambda v: v.sqrt()) if root else (lambda v: v)
            x0 = (x_t - sq(1 - a_t) * eps) / a_t.sqrt()
            a_n = a_s if noise_at == "s" else a_t
            x_s = a_s.sqrt() * x0 + (1 - a_n).sqrt() * eps if step else x_t
            return target(x_s, s if target_t == "s" else t,
                          cond if target_cond == "cond" else uncond)
    return fn


BUGS = {
    "[grad] the target computed with gradients": _target(grad=True),
    "no guidance: the conditional noise guess only": _target(guide=lambda c, u, w: c),
    "guidance from the conditional guess: eps_c + w (eps_c - eps_u)":
        _target(guide=lambda c, u, w: c + w * (c - u)),
    "the teacher's step skipped: the target network at x_t": _target(step=False),
    "the target network called at t instead of s": _target(target_t="t"),
    "the target network called without the prompt (unconditional input)":
        _target(target_cond="uncond"),
    "the noise put back at t's level, not s's": _target(noise_at="t"),
    "the data guess with 1 - alpha_bar, not its square root": _target(root=False),
    "[dtype] alpha_bar in float32": _target(dtype=False),
}


def _doubled(teacher, target, x_t, t, s, acp, cond, uncond, w):
    """One teacher call on the doubled batch, as diffusers' scripts do."""
    with torch.no_grad():
        both = teacher(torch.cat([x_t, x_t]), torch.cat([t, t]),
                       torch.cat([cond, uncond.expand_as(cond)]))
        eps_c, eps_u = both.chunk(2)
        eps = eps_u + w * (eps_c - eps_u)
        a_t, a_s = per_sample(acp[t].to(x_t.dtype), x_t), per_sample(acp[s].to(x_t.dtype), x_t)
        x0 = (x_t - (1 - a_t).sqrt() * eps) / a_t.sqrt()
        # DDIM written with the state's own noise: (x_t - sqrt(a_t) x0) / sqrt(1 - a_t)
        x_s = a_s.sqrt() * x0 + ((1 - a_s) / (1 - a_t)).sqrt() * (x_t - a_t.sqrt() * x0)
        return target(x_s, s, cond)


def _sigma_view(teacher, target, x_t, t, s, acp, cond, uncond, w):
    """Through the sigma view: x = x_t / sqrt(alpha_bar), DDIM as x0_hat + sigma_s eps_hat."""
    with torch.no_grad():
        eps = _target_eps(teacher, x_t, t, cond, uncond, w)
        a_t, a_s = per_sample(acp[t].to(x_t.dtype), x_t), per_sample(acp[s].to(x_t.dtype), x_t)
        x = x_t / a_t.sqrt()
        x0 = x - (1 / a_t - 1).sqrt() * eps
        return target((x0 + (1 / a_s - 1).sqrt() * eps) * a_s.sqrt(), s, cond)


def _target_eps(teacher, x_t, t, cond, uncond, w):
    eps_u = teacher(x_t, t, uncond)
    return torch.lerp(eps_u, teacher(x_t, t, cond), w)


ALTERNATIVES = {
    "one teacher call on the doubled batch, DDIM with the state's noise": _doubled,
    "through the sigma view, guidance by lerp": _sigma_view,
}

EXERCISE = exercise(globals(), points=3, summary="latent consistency distillation's target",
                    reread="8. Distillation: the teacher's step and the target network")
