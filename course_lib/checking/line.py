"""One line of a check's report: a property, whether it holds, and what to say when not."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

PASS, FAIL, UNCHECKED = "✓", "✗", "–"  # UNCHECKED: holds by default, could not be probed


@dataclass
class Line:
    ok: bool
    name: str
    detail: str = ""
    hint: str = ""  # what the property means: shown with every failure
    code: str = ""  # the code-level hint: shown from the third failed run (tier 2)

    @property
    def unchecked(self) -> bool:
        """Not judged on its own (a case failed above, or the answer cannot be probed so)."""
        return self.detail.startswith("not checked")

    def render(self, tier: int = 1) -> str:
        mark = FAIL if not self.ok else UNCHECKED if self.unchecked else PASS
        text = f"  {mark} {self.name}"
        if self.detail:
            text += f": {self.detail}"
        if not self.ok and not self.unchecked:
            if self.hint:
                text += f"\n      hint: {self.hint}"
            if self.code and tier >= 2:
                text += f"\n      code hint: {self.code}"
        return text


def describe(value: Any) -> str:
    """Short words for a value: 'tensor (8, 2) float32', 'float', 'None'."""
    if isinstance(value, torch.Tensor):
        return f"tensor {tuple(value.shape)} {str(value.dtype).replace('torch.', '')}"
    if isinstance(value, list):
        return f"a sequence of {len(value)}"
    return "None" if value is None else type(value).__name__
