"""The picture under a failed check: the reference's output next to the learner's, for the
first case that differs, when that output is something a person reads better as a picture
than as numbers (2-D points, an image or a feature map, a curve). Shown in a notebook only."""
from __future__ import annotations

import re

import torch

from course_lib.checking.probe import Outcome

_CASE = re.compile(r"^case '([^']+)'")


def failed_case(lines) -> str | None:
    """The case named by the first failed line that compares values (see exercise.close)."""
    for line in lines:
        found = None if line.ok else _CASE.match(line.detail)
        if found:
            return found.group(1)
    return None


def kind(want: torch.Tensor, got: torch.Tensor) -> str | None:
    """How to draw a pair of outputs: 'points', 'image', 'curve', or None (not drawable)."""
    if not (isinstance(want, torch.Tensor) and isinstance(got, torch.Tensor)) or \
            want.shape != got.shape or want.numel() < 5:
        return None
    if want.dim() in (2, 3) and want.shape[-1] == 2 and want.shape[-2] >= 3:
        return "points"  # 2-D points (N, 2), or a trajectory of them (steps, N, 2)
    if want.dim() >= 2 and min(want.shape[-2:]) >= 3 and want.shape[-1] * want.shape[-2] >= 64:
        return "image"  # (a few numbers read better as the lines' figures)
    if want.dim() == 1:
        return "curve"
    return None


def _image(x: torch.Tensor) -> torch.Tensor:
    """The first sample of (..., C, H, W) as (H, W, 3) for RGB or (H, W) otherwise."""
    while x.dim() > 3:
        x = x[0]
    if x.dim() == 3 and x.shape[0] == 3:
        return x.permute(1, 2, 0)
    return x[0] if x.dim() == 3 else x


def figure(name: str, want: torch.Tensor, got: torch.Tensor):
    """A matplotlib figure: reference and yours side by side (and their difference for
    images), or None when the output is not drawable."""
    import matplotlib.pyplot as plt

    want, got = want.detach().double().cpu(), got.detach().double().cpu()
    how = kind(want, got)
    if how is None:
        return None
    if how == "image":
        w, g = _image(want), _image(got)
        rgb = w.dim() == 3
        lo, hi = float(w.min()), float(w.max())
        fig, axes = plt.subplots(1, 3, figsize=(7.5, 2.7), layout="constrained")
        for ax, img, title in zip(axes, [w, g], ["reference", "yours"]):
            if rgb:
                ax.imshow(((img - lo) / max(hi - lo, 1e-12)).clamp(0, 1).numpy(),
                          interpolation="nearest")
            else:
                shown = ax.imshow(img.numpy(), vmin=lo, vmax=hi, cmap="viridis",
                                  interpolation="nearest")
            ax.set_title(title)
        if not rgb:
            fig.colorbar(shown, ax=axes[:2].tolist(), shrink=0.8)
        diff = (g - w).abs()
        fig.colorbar(axes[2].imshow((diff.amax(-1) if rgb else diff).numpy(), cmap="magma",
                                    interpolation="nearest"), ax=axes[2], shrink=0.8)
        axes[2].set_title("|yours - reference|")
        for ax in axes:
            ax.set_xticks([]), ax.set_yticks([])
    else:
        fig, ax = plt.subplots(figsize=(4.5, 3.2), layout="constrained")
        if how == "points":
            want, got = (want[-1], got[-1]) if want.dim() == 3 else (want, got)  # the end
            ax.scatter(*want.T.numpy(), s=8, label="reference", color="tab:blue", alpha=0.6)
            ax.scatter(*got.T.numpy(), s=8, label="yours", color="tab:orange", alpha=0.6)
            ax.set_aspect("equal", adjustable="datalim")
        else:
            ax.plot(want.numpy(), "o-", label="reference", ms=3)
            ax.plot(got.numpy(), "x--", label="yours", ms=4)
            ax.set_xlabel("index")
        ax.legend(fontsize=8)
    fig.suptitle(f"case '{name}': the first case where yours differs", fontsize=9)
    return fig


def show(report, outs: dict[str, Outcome], refs: dict[str, Outcome]) -> bool:
    """Display the picture of the first differing case in a notebook; True if one was shown."""
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    name = failed_case(report.lines)
    if get_ipython() is None or name is None or name not in outs or name not in refs:
        return False
    got, want = outs[name].value, refs[name].value
    if not (isinstance(got, torch.Tensor) and isinstance(want, torch.Tensor)):
        return False
    fig = figure(name, want, got)
    if fig is None:
        return False
    import matplotlib.pyplot as plt
    from IPython.display import display

    display(fig)
    plt.close(fig)
    return True
