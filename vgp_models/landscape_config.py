"""What a loss landscape measures (vgp_models.landscape), validated without torch: the dashboard's form, the CLI
and the worker's job share it, as SweepConfig is shared for depth sweeps."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from vgp_models.config import DEVICES, PRESETS, TRAIN_IMAGES, ConfigError

KINDS = ("best", "last")  # a run's checkpoints (vgp_models.checkpoints.KINDS)
MAX_POINTS = 101  # per axis: 101 x 101 is about 10,000 forward passes, a day of CPU for VGG38
MAX_IMAGES = TRAIN_IMAGES  # the coursework's whole training split
MAX_ID = 2**63 - 1  # the database's integer


def _whole(name: str, value: Any, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ConfigError(f"{name} must be a whole number from {low} to {high}, got {value!r}")


@dataclass(frozen=True)
class LandscapeConfig:
    """A landscape around a run's checkpoint (`run_id`, `kind`) or around a fresh net of a preset (`preset`, at
    RunConfig's default seed: the weights a run of that preset starts from); a file's checkpoint (the CLI) has
    neither. Validated like RunConfig (ConfigError, one line)."""

    run_id: int | None = None
    preset: str | None = None
    kind: str = "best"  # which of the run's checkpoints
    dims: int = 2  # 1: a curve along one direction; 2: a grid over two
    points: int = 21  # per axis, odd so that the centre (the checkpoint itself) is on the grid
    span: float = 1.0  # alpha (and beta) run over [-span, span] in units of the filter-normalised direction
    images: int = 1000  # the first N images of the coursework's training split, un-augmented
    seed: int = 0  # of the random directions
    amp: bool = False  # bf16 autocast for the forward passes
    device: str = "cpu"

    def __post_init__(self) -> None:
        if self.run_id is not None:
            _whole("run_id", self.run_id, 1, MAX_ID)
        if self.preset is not None and self.preset not in PRESETS:
            raise ConfigError(f"unknown preset {str(self.preset)[:40]!r}; choose from {', '.join(PRESETS)}")
        if self.run_id is not None and self.preset is not None:
            raise ConfigError("a landscape is around a run's checkpoint or a fresh preset's net, not both")
        if self.kind not in KINDS:
            raise ConfigError(f"kind must be best or last, got {str(self.kind)[:40]!r}")
        if self.dims not in (1, 2) or isinstance(self.dims, bool):
            raise ConfigError(f"dims must be 1 or 2, got {self.dims!r}")
        _whole("points", self.points, 3, MAX_POINTS)
        if self.points % 2 == 0:
            raise ConfigError(f"points must be odd, so that the centre is on the grid, got {self.points}")
        span = self.span
        if isinstance(span, bool) or not isinstance(span, (int, float)) or not 0 < span <= 10:
            raise ConfigError(f"span must be a number above 0 and at most 10, got {span!r}")
        object.__setattr__(self, "span", float(span))
        _whole("images", self.images, 1, MAX_IMAGES)
        _whole("seed", self.seed, 0, 2**31 - 1)
        if not isinstance(self.amp, bool):
            raise ConfigError(f"amp must be true or false, got {self.amp!r}")
        if self.device not in DEVICES:
            raise ConfigError(f"device must be one of {', '.join(DEVICES)}, got {str(self.device)[:40]!r}")

    @property
    def total(self) -> int:
        """Points on the grid: points, or points x points."""
        return self.points**self.dims

    def grid(self) -> list[tuple[int, int, float, float | None]]:
        """(i, j, alpha, beta) in measuring order, row by row; a 1D slice has j = 0 and beta None. The coordinate
        is span x (2k / (points - 1) - 1), so the middle index is exactly 0."""
        axis = [self.span * (2 * k / (self.points - 1) - 1) for k in range(self.points)]
        if self.dims == 1:
            return [(i, 0, a, None) for i, a in enumerate(axis)]
        return [(i, j, a, b) for i, a in enumerate(axis) for j, b in enumerate(axis)]

    @property
    def source(self) -> str:
        """What the landscape is around, in words: 'run 12 (best)', 'fresh vgg38', or 'a checkpoint file'."""
        if self.run_id is not None:
            return f"run {self.run_id} ({self.kind})"
        return f"fresh {self.preset}" if self.preset else "a checkpoint file"

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> LandscapeConfig:
        if not isinstance(values, dict):
            raise ConfigError(f"a landscape config must be a mapping, got {type(values).__name__}")
        unknown = sorted(repr(k)[:40] for k in set(values) - {f.name for f in dataclasses.fields(cls)})
        if unknown:
            raise ConfigError(f"unknown landscape field(s): {', '.join(unknown)}")
        return cls(**values)
