"""One validated run config, shared by the dashboard form, both CLIs and the worker's job.

Defaults are the reference experiment (../shared/reference/experiment.md): Adam at 1e-3, batch 100,
100 epochs, cosine annealing to 2e-5 stepped once per epoch, seed 0.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

SHORTCUTS = ("none", "avgpool", "conv1x1")
SCHEDULES = ("epoch", "iteration")
DEVICES = ("auto", "cpu", "cuda")

# Architecture presets. Table 1's seven rows are five of these at two learning rates.
PRESETS: dict[str, dict[str, Any]] = {
    "vgg08": dict(depth=8, batch_norm=False, residual=False),
    "vgg38": dict(depth=38, batch_norm=False, residual=False),
    "vgg38-bn": dict(depth=38, batch_norm=True, residual=False),
    "vgg38-rc": dict(depth=38, batch_norm=False, residual=True),
    "vgg38-bn-rc": dict(depth=38, batch_norm=True, residual=True),
    # The report's future work: shortcuts around reduction blocks, deeper and wider nets.
    "vgg38-bn-rc-avgpool": dict(depth=38, batch_norm=True, residual=True, shortcut="avgpool"),
    "vgg38-bn-rc-conv1x1": dict(depth=38, batch_norm=True, residual=True, shortcut="conv1x1"),
    "vgg68-bn-rc": dict(depth=68, batch_norm=True, residual=True),
    "vgg74-bn-rc": dict(depth=74, batch_norm=True, residual=True),
    "vgg38-bn-rc-w64": dict(depth=38, width=64, batch_norm=True, residual=True),
}


@dataclass(frozen=True)
class Table1Row:
    """One row of the report's Table 1: the preset, its learning rate and the report's numbers (acc in %)."""

    model: str
    preset: str
    lr: float
    params: str
    train_loss: float
    train_acc: float
    val_loss: float
    val_acc: float


TABLE1: tuple[Table1Row, ...] = (
    Table1Row("VGG08", "vgg08", 1e-3, "60K", 1.74, 51.59, 1.95, 46.84),
    Table1Row("VGG38", "vgg38", 1e-3, "336K", 4.61, 0.01, 4.61, 0.01),
    Table1Row("VGG38 BN", "vgg38-bn", 1e-3, "339K", 1.83, 49.43, 2.01, 45.08),
    Table1Row("VGG38 RC", "vgg38-rc", 1e-3, "336K", 1.33, 61.52, 1.84, 52.32),
    Table1Row("VGG38 BN+RC", "vgg38-bn-rc", 1e-3, "339K", 1.26, 62.99, 1.73, 53.76),
    Table1Row("VGG38 BN", "vgg38-bn", 1e-2, "339K", 1.70, 52.28, 1.99, 46.72),
    Table1Row("VGG38 BN+RC", "vgg38-bn-rc", 1e-2, "339K", 0.92, 71.87, 1.58, 59.16),
)


NUM_CLASSES = 100  # CIFAR-100


class ConfigError(ValueError):
    """A run config that cannot be trained; the message is one line, fit for a form or a terminal."""


@dataclass(frozen=True)
class RunConfig:
    # model
    depth: int = 8  # 8 + 6N: 8 (VGG08), 38 (VGG38), 68, 74, ...
    width: int = 32  # num_filters F of every conv
    batch_norm: bool = False
    residual: bool = False
    shortcut: str = "none"  # reduction-block skip: none (the reference), avgpool or conv1x1
    # optimiser and schedule
    lr: float = 1e-3
    weight_decay: float = 0.0
    epochs: int = 100
    batch_size: int = 100
    schedule: str = "epoch"  # cosine annealing stepped per epoch (reference) or per iteration (2023-25 framework)
    eta_min: float = 2e-5
    patience: int = 0  # early stopping on val accuracy after this many epochs without a gain; 0 = off
    # run
    seed: int = 0
    subset: int = 0  # keep at most this many images of each split (smoke runs); 0 = all
    device: str = "auto"  # auto = cuda when available
    channels_last: bool = True  # NHWC memory layout: same maths, ~1.1-1.3x faster VGG38 steps on CPU (benchmarks.md)
    amp: bool = False  # bf16 autocast around forward and loss (weights, grads and Adam stay fp32)
    compile: bool = False  # torch.compile the model for training steps (a one-off compile, needs a C compiler on CPU)

    def __post_init__(self) -> None:
        self._check()

    # ---- validation ------------------------------------------------------------------------------

    def _check(self) -> None:
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            want = {"int": int, "float": float, "bool": bool, "str": str}[f.type]
            if want is float and isinstance(value, int) and not isinstance(value, bool):
                if abs(value) > 2**1023:  # float() of a huge JSON integer overflows
                    raise ConfigError(f"{f.name} is out of range, got an integer of {len(str(abs(value)))} digits")
                value = float(value)
                object.__setattr__(self, f.name, value)
            if not isinstance(value, want) or (want is int and isinstance(value, bool)):
                raise ConfigError(f"{f.name} must be {f.type}, got {value!r}")
        if self.depth < 8 or (self.depth - 8) % 6:
            raise ConfigError(f"depth must be 8 + 6N (8, 14, 20, 26, 32, 38, ..., 68, 74), got {self.depth}")
        if self.depth > 500:
            raise ConfigError(f"depth must be at most 500, got {self.depth}")
        _bounded("width", self.width, 1, 1024)
        if self.shortcut not in SHORTCUTS:
            raise ConfigError(f"shortcut must be one of {', '.join(SHORTCUTS)}, got {self.shortcut!r}")
        if self.shortcut != "none" and not self.residual:
            raise ConfigError("a reduction-block shortcut needs residual connections on")
        _positive_finite("lr", self.lr, upper=10.0)
        _bounded("weight_decay", self.weight_decay, 0.0, 1.0)
        _bounded("epochs", self.epochs, 1, 10_000)
        _bounded("batch_size", self.batch_size, 1, 50_000)
        if self.schedule not in SCHEDULES:
            raise ConfigError(f"schedule must be one of {', '.join(SCHEDULES)}, got {self.schedule!r}")
        if self.eta_min > self.lr:
            raise ConfigError(f"lr ({self.lr:g}) must be at least the schedule's floor eta_min ({self.eta_min:g}); "
                              "lower eta_min too")
        _bounded("eta_min", self.eta_min, 0.0, 1.0)
        _bounded("patience", self.patience, 0, 10_000)
        _bounded("seed", self.seed, 0, 2**32 - 1)
        _bounded("subset", self.subset, 0, 60_000)
        if self.device not in DEVICES:
            raise ConfigError(f"device must be one of {', '.join(DEVICES)}, got {self.device!r}")

    # ---- conversion ------------------------------------------------------------------------------

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> RunConfig:
        """Build and validate from a plain dict (a form, JSON, a database row); unknown keys are an error."""
        if not isinstance(values, dict):
            raise ConfigError(f"a run config must be a mapping, got {type(values).__name__}")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(repr(key) for key in set(values) - known)  # repr: any key, kept on one line
        if unknown:
            raise ConfigError(f"unknown config field(s): {', '.join(unknown)}")
        return cls(**values)

    @classmethod
    def from_preset(cls, preset: str, **overrides: Any) -> RunConfig:
        if preset not in PRESETS:
            raise ConfigError(f"unknown preset {preset!r}; choose from {', '.join(PRESETS)}")
        return cls.from_dict({**PRESETS[preset], **overrides})

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @property
    def parameter_count(self) -> int:
        """The trainable parameters of `VGG(self)`, in closed form (no torch: the queue checks it at submit)."""
        f, bn = self.width, 2 * self.width if self.batch_norm else 0  # a BatchNorm2d has weight and bias
        entry = 27 * f + 2 * f  # conv 3->F without bias, and its BN (present in every variant)
        processing = 2 * 9 * f * f + 2 * bn  # two 3x3 convs without bias
        reduction = 2 * (9 * f * f + f) + 2 * bn  # two 3x3 convs with bias
        if self.shortcut == "conv1x1":
            reduction += f * f + bn
        head = f * NUM_CLASSES + NUM_CLASSES
        return entry + 3 * ((self.depth - 8) // 6 * processing + reduction) + head

    @property
    def label(self) -> str:
        """A short human name in the report's style: 'VGG38 BN+RC', 'VGG68 BN+RC avgpool', 'VGG38 x64'."""
        parts = [f"VGG{self.depth:02d}"]
        extras = [name for name, on in (("BN", self.batch_norm), ("RC", self.residual)) if on]
        if extras:
            parts.append("+".join(extras))
        if self.shortcut != "none":
            parts.append(self.shortcut)
        if self.width != 32:
            parts.append(f"x{self.width}")
        return " ".join(parts)


def _bounded(name: str, value: float, low: float, high: float) -> None:
    if not (low <= value <= high):
        raise ConfigError(f"{name} must be between {low:g} and {high:g}, got {value!r}")


def _positive_finite(name: str, value: float, upper: float) -> None:
    if not math.isfinite(value) or not (0.0 < value <= upper):
        raise ConfigError(f"{name} must be a finite number in (0, {upper:g}], got {value!r}")
