"""Flow matching on the course's sigma view: straight paths, velocities, Euler, reflow.

Introduced in notebook 12 (Lipman et al., "Flow matching", and Liu et al., "Rectified flow",
both ICLR 2023). A data point x0 and a noise eps are joined by the straight path
x_t = (1 - t) x0 + t eps, t in [0, 1], walked at the velocity eps - x0; a model
velocity(x_t, t, cond=None) -> v_hat learns it, and sampling integrates dx/dt = v from the
noise at t = 1 down to t = 0. The same path is notebook 01's x_sigma divided by 1 + sigma,
with sigma = t / (1 - t), and v_hat = eps_hat - x0_hat: the two wrappers below turn a velocity
model into the course's denoiser(x, sigma, cond=None) -> eps_hat and back, so every sampler
drives every model. What this is not: SD3's recipe (logit-normal times, shifted schedules, a
transformer), which notebook 12's second half builds on this.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass

import torch
from torch import nn

from course_lib.config import Config
from course_lib.diffusion import batch_sigma

# The notebook's exercises: each reference lives once, in its exercise file.
from course_lib.exercises.nb12.eps_from_velocity import eps_from_velocity
from course_lib.exercises.nb12.euler_flow_samples import euler_flow_samples
from course_lib.exercises.nb12.flow_loss import flow_loss
from course_lib.exercises.nb12.flow_path import flow_path
from course_lib.exercises.nb12.velocity_from_denoiser import velocity_from_denoiser
from course_lib.fit import fit
from course_lib.runtime import progress_bar
from course_lib.spiral import make_spiral, sigma_embedding

__all__ = ["FlowConfig", "FlowMLP", "as_denoiser", "as_velocity", "build", "eps_from_velocity",
           "euler_flow_samples", "flow_loss", "flow_path", "ideal_velocity", "reflow_pairs",
           "sample", "sigma_to_t", "straightness", "t_to_sigma", "times", "train_flow",
           "train_reflow", "train_spiral_flow", "velocity_from_denoiser"]


@dataclass(frozen=True)
class FlowConfig(Config):
    """Notebook 12's velocity MLP and its run (data/spiral_flow.pt, data/spiral_reflow.pt).
    reflow_pairs = 0: trained on the spiral with fresh noise; otherwise fine-tuned from the
    first model on that many (noise, sample) pairs of its own ODE, each sample made in
    reflow_steps Euler steps."""
    hidden: int = 128
    depth: int = 3
    emb_dim: int = 16
    n_points: int = 256
    steps: int = 20_000
    batch_size: int = 256
    lr: float = 3e-3
    seed: int = 0
    reflow_pairs: int = 0
    reflow_steps: int = 100


REFLOW = FlowConfig(steps=10_000, seed=1, reflow_pairs=20_000)  # data/spiral_reflow.pt


def t_to_sigma(t):
    """The noise level of the sigma view at time t of the straight path: t / (1 - t)."""
    return t / (1 - t)


def sigma_to_t(sigma):
    """The time of the straight path at noise level sigma: sigma / (1 + sigma)."""
    return sigma / (1 + sigma)


class FlowMLP(nn.Module):
    """v_theta(x_t, t): notebook 01's MLP, reading x_t (already of unit scale) and the
    embedding of log sigma with sigma = t / (1 - t), clamped to [1e-3, 1e3] (t from about
    0.001 to 0.999). x: (B, 2), t: a number, 0-dim or (B,) -> v_hat: (B, 2)."""

    def __init__(self, hidden: int = 128, depth: int = 3, emb_dim: int = 16):
        super().__init__()
        self.emb_dim = emb_dim
        layers, width = [], 2 + emb_dim
        for _ in range(depth):
            layers += [nn.Linear(width, hidden), nn.SiLU()]
            width = hidden
        self.net = nn.Sequential(*layers, nn.Linear(width, 2))

    def forward(self, x: torch.Tensor, t, cond=None) -> torch.Tensor:
        t = batch_sigma(t, x)                                               # (B,)
        emb = sigma_embedding(t_to_sigma(t.clamp(0, 1)).clamp(1e-3, 1e3), self.emb_dim)
        return self.net(torch.cat([x, emb], dim=1))


def build(c: FlowConfig | dict) -> FlowMLP:
    """Notebook 12's velocity model from its config (as saved in data/)."""
    c = FlowConfig.from_dict(c)
    return FlowMLP(c.hidden, c.depth, c.emb_dim)


def as_denoiser(velocity):
    """velocity(x_t, t, cond=None) as the course's denoiser(x, sigma, cond=None) -> eps_hat,
    for samplers.samples and every other sigma-view sampler (sigma > 0)."""
    def denoiser(x: torch.Tensor, sigma, cond=None) -> torch.Tensor:
        model = velocity if cond is None else (lambda x_t, t: velocity(x_t, t, cond))
        return eps_from_velocity(model, x, batch_sigma(sigma, x))
    return denoiser


def as_velocity(denoiser):
    """The course's denoiser(x, sigma, cond=None) as velocity(x_t, t, cond=None) -> v_hat, for
    euler_flow_samples. Defined for t < 1: a model trained up to sigma_max is sampled from
    t = sigma_to_t(sigma_max)."""
    def velocity(x: torch.Tensor, t, cond=None) -> torch.Tensor:
        model = denoiser if cond is None else (lambda x_s, s: denoiser(x_s, s, cond))
        return velocity_from_denoiser(model, x, batch_sigma(t, x))
    return velocity


def ideal_velocity(K: torch.Tensor):
    """The exact minimiser of the flow loss for the finite data set K (N, D): at (x_t, t),
    (x_t - E[x0 | x_t]) / t, the mean taken with softmax weights of -|x_t - (1 - t) k|^2 / 2t^2
    (notebook 04's ideal denoiser, in the t view). A velocity(x_t, t, cond=None) for 0 < t."""
    def velocity(x: torch.Tensor, t, cond=None) -> torch.Tensor:
        t = batch_sigma(t, x)[:, None]                                      # (B, 1)
        k = K.to(x.dtype)
        sq = ((x[:, None, :] - (1 - t)[:, :, None] * k[None]) ** 2).sum(-1)  # (B, N)
        return (x - torch.softmax(-sq / (2 * t**2), dim=1) @ k) / t
    return velocity


def times(steps: int, t_max: float = 1.0) -> torch.Tensor:
    """steps + 1 evenly spaced times from t_max down to 0: the list a flow sampler walks."""
    return torch.linspace(t_max, 0.0, steps + 1)


@torch.no_grad()
def sample(velocity, ts: torch.Tensor, n: int | None = None, dim: int = 2, seed: int = 0,
           x: torch.Tensor | None = None, trajectory: bool = False, cond=None,
           progress: bool = False):
    """Euler samples from n fresh noises (seeded), or from x given, which starts at ts[0]:
    the final x (n, dim), or every state (len(ts), n, dim), the start included. Fresh noise
    at ts[0] < 1 is scaled by ts[0], as the sigma view starts from sigma_max eps."""
    if x is None:
        x = torch.randn(n, dim, generator=torch.Generator().manual_seed(seed)) * float(ts[0])
    model = velocity if cond is None else (lambda x_t, t: velocity(x_t, t, cond))
    steps = progress_bar(euler_flow_samples(model, ts, x), total=len(ts) - 1, desc="Euler steps",
                 disable=not progress)
    states = [x] + list(steps)
    return torch.stack(states) if trajectory else states[-1]


def train_flow(model: nn.Module, data: torch.Tensor, steps: int, batch_size: int = 256,
               lr: float = 3e-3, seed: int = 0, progress: bool = True,
               noise: torch.Tensor | None = None) -> list[float]:
    """Train a velocity model with flow_loss, t uniform in [0, 1], through course_lib.fit's
    loop. Fresh Gaussian noise each step, or with noise given (N, *D), each data row's own
    noise row: the coupled pairs of reflow."""
    def loss_on_batch(gen: torch.Generator) -> torch.Tensor:
        idx = torch.randint(len(data), (batch_size,), generator=gen)
        x0 = data[idx]                                                      # (B, *D)
        t = torch.rand(batch_size, generator=gen)                           # (B,)
        eps = torch.randn(x0.shape, generator=gen) if noise is None else noise[idx]
        return flow_loss(model, x0, t, eps)

    return fit(model, loss_on_batch, steps, lr, seed=seed, progress=progress,
               desc="flow matching" if noise is None else "reflow")


def reflow_pairs(velocity, n: int, steps: int = 100, seed: int = 0, progress: bool = True
                 ) -> tuple[torch.Tensor, torch.Tensor]:
    """n noises and where the velocity model's ODE takes them in `steps` Euler steps:
    (samples (n, 2), noises (n, 2)), the coupled pairs reflow trains on."""
    eps = torch.randn(n, 2, generator=torch.Generator().manual_seed(seed))
    return sample(velocity, times(steps), x=eps, progress=progress), eps


def straightness(traj: torch.Tensor) -> float:
    """How straight paths are: mean over samples of (length of the path) / (distance between
    its ends), from states (T, N, *D). 1 means straight lines; curved paths give more."""
    hops = (traj[1:] - traj[:-1]).flatten(2).norm(dim=-1).sum(0)            # (N,)
    ends = (traj[-1] - traj[0]).flatten(1).norm(dim=-1)                     # (N,)
    return (hops / ends.clamp(min=1e-12)).mean().item()


def train_spiral_flow(config: FlowConfig | dict = FlowConfig(), progress: bool = True):
    """The velocity model of data/spiral_flow.pt from scratch: (model, losses)."""
    c = FlowConfig.from_dict(config)
    torch.manual_seed(c.seed)
    model = build(c)
    losses = train_flow(model, make_spiral(c.n_points), c.steps, c.batch_size, c.lr, c.seed,
                        progress)
    return model.eval(), losses


def train_reflow(teacher: nn.Module, config: FlowConfig | dict = REFLOW,
                 progress: bool = True):
    """One reflow round (data/spiral_reflow.pt): pair fresh noises with the teacher's samples
    and fine-tune a copy of the teacher on those pairs. Returns (model, losses, config)."""
    c = FlowConfig.from_dict(config)
    x0, eps = reflow_pairs(teacher, c.reflow_pairs, c.reflow_steps, c.seed, progress)
    model = copy.deepcopy(teacher)
    losses = train_flow(model, x0, c.steps, c.batch_size, c.lr, c.seed, progress, noise=eps)
    return model.eval(), losses, c
