"""One training loop for every model in the course; each model supplies only its loss.

Introduced in notebook 01, where the loop is also written out by hand. `loss_fn(gen)` draws
its own batch with the loop's seeded generator and returns a 0-dim loss; `fit` owns the
rest: Adam (AdamW with weight decay), a cosine-decayed learning rate, train/eval mode, a
progress bar and the loss history. The same loop runs on a GPU or under `accelerate launch`:
it touches no device itself.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable

import torch
from torch import nn

from course_lib.runtime import progress_bar


def fit(models: nn.Module | Iterable[nn.Module], loss_fn: Callable[[torch.Generator], torch.Tensor],
        steps: int, lr: float = 1e-3, *, seed: int = 0, weight_decay: float = 0.0,
        cosine: bool = True, params: Iterable[torch.Tensor] | None = None,
        after_step: Callable[[], None] | None = None, desc: str = "training",
        progress: bool = True) -> list[float]:
    """Minimise loss_fn for `steps` steps; return the loss of every step (floats).

    models: what trains (put in train mode, then eval mode at the end); params: what the
    optimiser moves (default: every parameter of models that requires grad); after_step:
    called after each optimiser step (e.g. to clamp a parameter).
    """
    models = [models] if isinstance(models, nn.Module) else list(models)
    if params is None:
        params = [p for m in models for p in m.parameters() if p.requires_grad]
    params = list(params)
    gen = torch.Generator().manual_seed(seed)
    opt = (torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay) if weight_decay
           else torch.optim.Adam(params, lr=lr))
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=steps) if cosine else None
    for m in models:
        m.train()
    losses = []
    for _ in progress_bar(range(steps), desc=desc, disable=not progress):
        loss = loss_fn(gen)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if sched is not None:
            sched.step()
        if after_step is not None:
            after_step()
        losses.append(loss.item())
    for m in models:
        m.eval()
    return losses
