"""Pictures used across the notebooks: point clouds, trajectories, loss curves, animations.

Only numpy and matplotlib (no torchvision). Every function draws on a given or new Axes and
returns it, so notebooks can compose panels.
"""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib import animation


def _np(x) -> np.ndarray:
    return x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)


def scatter2d(points, data=None, ax=None, title: str = "", lim: float = 1.6, s: float = 2,
              ticks: bool = False):
    """Points (N, 2) in blue over the data set (M, 2) in grey, on a square frame."""
    ax = ax or plt.subplots(figsize=(4, 4))[1]
    if data is not None:
        ax.scatter(*_np(data).T, s=s, c="0.75", label="data")
    ax.scatter(*_np(points).T, s=s, c="tab:blue", label="samples")
    ax.set(xlim=(-lim, lim), ylim=(-lim, lim), aspect="equal", title=title)
    if not ticks:
        ax.set_xticks([]), ax.set_yticks([])
    return ax


def plot_trajectories(traj, data=None, n_paths: int = 40, ax=None, lim: float = 1.6,
                      title: str = "reverse trajectories"):
    """traj: (T, N, 2) states from noise to sample. Draws n_paths paths with their ends."""
    traj = _np(traj)[:, :n_paths]
    ax = ax or plt.subplots(figsize=(5, 5))[1]
    if data is not None:
        ax.scatter(*_np(data).T, s=3, c="0.75")
    for i in range(traj.shape[1]):
        ax.plot(traj[:, i, 0], traj[:, i, 1], lw=0.6, alpha=0.6)
    ax.scatter(*traj[-1].T, s=8, c="k", zorder=3, label="end")
    ax.set(xlim=(-lim, lim), ylim=(-lim, lim), aspect="equal", title=title)
    return ax


def plot_losses(losses, smooth: int = 100, ax=None, title: str = "training loss"):
    """Raw losses (faint) and a moving average over `smooth` steps, log-scaled y."""
    losses = np.asarray(losses, dtype=float)
    ax = ax or plt.subplots(figsize=(6, 3))[1]
    ax.plot(losses, alpha=0.25, lw=0.5, label="per step")
    if len(losses) >= smooth:
        avg = np.convolve(losses, np.ones(smooth) / smooth, mode="valid")
        ax.plot(np.arange(smooth - 1, len(losses)), avg, label=f"mean of {smooth}")
    ax.set(yscale="log", xlabel="step", ylabel="loss", title=title)
    ax.legend()
    return ax


def animate_points(traj, data=None, labels=None, lim: float = 1.6, interval: int = 120):
    """An animation of a point cloud moving through the states traj (T, N, 2).

    Returns a matplotlib FuncAnimation; in a notebook show it with
    `IPython.display.HTML(anim.to_jshtml())`.
    """
    traj = _np(traj)
    fig, ax = plt.subplots(figsize=(4, 4))
    if data is not None:
        ax.scatter(*_np(data).T, s=3, c="0.8")
    dots = ax.scatter(*traj[0].T, s=3, c="tab:blue")
    ax.set(xlim=(-lim, lim), ylim=(-lim, lim), aspect="equal")
    ax.set_xticks([]), ax.set_yticks([])

    def frame(i):
        dots.set_offsets(traj[i])
        ax.set_title(labels[i] if labels is not None else f"step {i}/{len(traj) - 1}")
        return (dots,)

    anim = animation.FuncAnimation(fig, frame, frames=len(traj), interval=interval, blit=False)
    plt.close(fig)
    return anim


def show_images(images: torch.Tensor, nrow: int = 8, title: str = "", value_range=(-1, 1),
                inches: float = 1.4) -> None:
    """A grid of images (B, 3, H, W) drawn large and sharp (nearest-neighbour pixels), inches
    per image; value_range is (-1, 1) for model outputs, (0, 1) for decoded pipeline images.
    The one image grid of notebooks 06-10."""
    from course_lib.shapes import grid

    lo, hi = value_range
    x = (images.detach().float().cpu() - lo) / (hi - lo) * 2 - 1     # to [-1, 1]
    nrow = min(nrow, len(x))
    rows = -(-len(x) // nrow)
    plt.figure(figsize=(nrow * inches, rows * inches + 0.4))
    plt.imshow(grid(x, nrow), interpolation="nearest")
    plt.axis("off")
    plt.title(title)
    plt.show()


def live(draw, **controls) -> None:
    """draw(**values) once at the controls' starting values, as a plain picture that a saved
    notebook keeps (a reopened notebook shows "Error displaying widget" where sliders were),
    then the controls (ipywidgets), which draw the view again below them when moved; they
    need a running kernel. The one way the notebooks offer sliders: in place of
    `interact(draw, **controls)`."""
    from IPython.display import display
    from ipywidgets import interactive

    draw(**{name: control.value for name, control in controls.items()})
    print("Above: the starting view. Move a control to redraw below (needs a running kernel).")
    drawn = []

    def redraw(**values):
        if drawn:  # interactive() calls it once on creation: that view is already above
            draw(**values)
        drawn.append(True)

    display(interactive(redraw, **controls))
