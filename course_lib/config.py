"""The one base of the course's typed configs: frozen dataclasses, each next to its model.

A config names every setting of one training run (spiral.SpiralConfig, unet.UNetConfig,
vae.VAEConfig, ...). Checkpoints in data/ store it as a plain dict (config.asdict()), read
back with Config.from_dict; values written after training (the VAE's latent `scale`, a
tokenizer's `vocab`) are fields that default to None and are left out of the dict until set.
`config["key"]` still reads a field, so older notebook cells written for dicts keep working.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, TypeVar

C = TypeVar("C", bound="Config")


class Config:
    """Mixin for a @dataclass(frozen=True) config: from_dict, asdict, replace, read by key."""

    @classmethod
    def from_dict(cls: type[C], d: Mapping[str, Any] | Config) -> C:
        """The typed config from a dict (as saved in a checkpoint) or a config (kept as is)."""
        if isinstance(d, cls):
            return d
        d = d.asdict() if isinstance(d, Config) else dict(d)
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise TypeError(f"{cls.__name__} has no field {', '.join(map(repr, unknown))}; "
                            f"its fields are: {', '.join(sorted(names))}")
        return cls(**d)

    def asdict(self) -> dict[str, Any]:
        """A plain dict for torch.save (tuples as lists, unset None fields left out)."""
        return {f.name: _plain(getattr(self, f.name)) for f in dataclasses.fields(self)
                if getattr(self, f.name) is not None}

    def replace(self: C, **changes: Any) -> C:
        """A copy with some fields changed: SPIRAL_CONFIG.replace(steps=30)."""
        return dataclasses.replace(self, **changes)

    # the dict interface the configs had before: config["vocab"], {**config, "steps": 30}
    def __getitem__(self, key: str) -> Any:
        if key not in self.keys():
            raise KeyError(key)
        return getattr(self, key)

    def keys(self) -> list[str]:
        return [f.name for f in dataclasses.fields(self)]


def _plain(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


def frozen_tuple(config: Config, *names: str) -> None:
    """In __post_init__: store these list fields (as a saved dict gives them) as tuples."""
    for name in names:
        object.__setattr__(config, name, tuple(getattr(config, name)))
