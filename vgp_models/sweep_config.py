"""What a depth sweep measures (vgp_models.sweep), validated without torch: the dashboard's form, both CLIs and
the worker's job share it, as RunConfig is shared for runs."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from vgp_models.config import DEVICES, ConfigError, RunConfig
from vgp_models.cures import CURES

DEPTHS = tuple(range(8, 75, 6))  # 8, 14, 20, ..., 74: the report's VGG08 to its future-work VGG74
DEFAULT_CURES = ("none", "BN", "RC", "BN+RC")


@dataclass(frozen=True)
class SweepConfig:
    """What a sweep measures; validated like RunConfig (ConfigError, one line)."""

    depths: tuple[int, ...] = DEPTHS
    # The report's four (its Figures' networks): 144 nets, about half a minute of one CPU core
    # (docs/benchmarks.md); every cure of CURES is one choice away.
    cures: tuple[str, ...] = DEFAULT_CURES
    seeds: int = 3  # seeds 0 .. seeds-1 of the init, for the band
    batches: int = 1  # real training batches per net; their mean |gradient| is averaged
    batch_size: int = 16  # small: the default sweep (144 nets up to VGG74) takes about half a minute on a CPU
    device: str = "cpu"  # a CPU does the default sweep in about half a minute

    def __post_init__(self) -> None:
        object.__setattr__(self, "depths", tuple(sorted(set(self.depths))))
        object.__setattr__(self, "cures", tuple(dict.fromkeys(self.cures)))
        if not self.depths:
            raise ConfigError("a sweep needs at least one depth")
        for depth in self.depths:
            RunConfig(depth=depth)  # 8 + 6N, at most 500: RunConfig's own one-line error
        unknown = [c for c in self.cures if c not in CURES]
        if unknown or not self.cures:
            got = ", ".join(map(repr, unknown)) or "none"
            raise ConfigError(f"cures must be some of {', '.join(CURES)}, got {got}")
        for name, value, high in (("seeds", self.seeds, 20), ("batches", self.batches, 50),
                                  ("batch_size", self.batch_size, 1000)):  # fmt: skip
            if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= high:
                raise ConfigError(f"{name} must be a whole number from 1 to {high}, got {value!r}")
        if self.device not in DEVICES:
            raise ConfigError(f"device must be one of {', '.join(DEVICES)}, got {self.device!r}")

    @property
    def images(self) -> int:
        """Training images the sweep reads (the subset to load)."""
        return self.batches * self.batch_size

    def cells(self) -> list[tuple[str, int]]:
        """(cure, depth) in the order they are measured: cure by cure, shallow to deep."""
        return [(cure, depth) for cure in self.cures for depth in self.depths]

    def to_dict(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "depths": list(self.depths), "cures": list(self.cures)}

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> SweepConfig:
        if not isinstance(values, dict):
            raise ConfigError(f"a sweep config must be a mapping, got {type(values).__name__}")
        unknown = sorted(repr(k) for k in set(values) - {f.name for f in dataclasses.fields(cls)})
        if unknown:
            raise ConfigError(f"unknown sweep field(s): {', '.join(unknown)}")
        values = dict(values)
        for key in ("depths", "cures"):
            if key in values:
                if not isinstance(values[key], (list, tuple)):
                    raise ConfigError(f"{key} must be a list, got {values[key]!r}")
                values[key] = tuple(values[key])
        return cls(**values)
