"""One validated run config, shared by the dashboard form, both CLIs and the worker's job.

Defaults are the reference experiment (../shared/reference/experiment.md): Adam at 1e-3, batch 100,
100 epochs, cosine annealing to 2e-5 stepped once per epoch, seed 0.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from vgp_models import registry

SHORTCUTS = ("none", "avgpool", "conv1x1")
INITS = ("default", "kaiming", "xavier", "orthogonal")
ACTIVATIONS = ("leaky_relu", "relu", "tanh", "gelu", "selu")
OPTIMIZERS = ("adam", "adamw", "sgd")
GRAD_AMP_LAYERS = ("activations", "convs")
SCHEDULES = ("epoch", "iteration")
TRAIN_IMAGES = 47_500
"""The coursework's training split: 95% of CIFAR-100's 50,000 training images (vgp_models.data.coursework_split)."""
VAL_IMAGES = 2_500
"""Its validation split: the other 5%."""


def split_images(subset: int | None, split: int) -> int:
    """The images a run sees of a split of `split` images: at most `subset` of them (0 or None: all)."""
    return min(int(subset), split) if subset else split


DEVICES = ("auto", "cpu", "cuda")
GRAD_AMP_EPOCHS = re.compile(r"all|alternate|first:([1-9][0-9]{0,4})")  # grad_amp_epochs' three forms

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


SECTIONS = ("model", "cures", "optimiser", "gradient amplification", "run")


def setting(
    default: Any,
    section: str,
    help: str,
    *,
    label: str = "",
    choices: tuple[str, ...] | Callable[[], tuple[str, ...]] = (),
    option: str = "",
) -> Any:
    """A RunConfig field with its one description. Both CLIs (cli_options) and the Launch form build their
    inputs from this metadata: `help` (one line), `label` (the form's; default: the name, capitalised),
    `choices` (checked by RunConfig, a select box in the form; a function when they depend on the host, as
    registered architectures do: read them with `choices_of`), `option` (the CLI's name when it is not the
    field's), `section` (the form groups fields by it)."""
    assert section in SECTIONS, section
    meta = {"section": section, "help": help, "label": label, "choices": choices, "option": option}
    return dataclasses.field(default=default, metadata=meta)


def choices_of(field: dataclasses.Field) -> tuple[str, ...]:
    """A field's allowed values: its `choices`, or what its choices function returns on this host."""
    choices = field.metadata["choices"]
    return choices() if callable(choices) else choices


@dataclass(frozen=True)
class RunConfig:
    # model
    arch: str = setting(
        "vgg",
        "model",
        "vgg: the report's stack of convs; densenet: every layer of a stage sees all earlier ones (VGG38's size "
        "at depth 38); or one registered on this host (docs/registered-architectures.md)",
        label="Architecture",
        choices=registry.names,
    )
    depth: int = setting(8, "model", "8 + 6N: 8 (VGG08), 38 (VGG38), 68, 74, ... (a DenseNet has as many layers)")
    width: int = setting(32, "model", "Filters of every conv (F; the report: 32); a DenseNet's stem width")
    batch_norm: bool = setting(False, "model", "Batch norm after every conv", option="bn")
    residual: bool = setting(False, "model", "Residual connections around processing blocks (vgg)", option="rc")
    shortcut: str = setting(
        "none",
        "model",
        "Skip around reduction blocks (the report's future work); needs residual connections",
        choices=SHORTCUTS,
    )
    # the report's other cures for vanishing gradients (its introduction)
    init: str = setting(
        "default",
        "cures",
        "Weight init of convs and the linear layer: PyTorch's default (the "
        "reference), kaiming (fan-in, the activation's gain), xavier or orthogonal; biases zero",
        label="Init",
        choices=INITS,
    )
    activation: str = setting(
        "leaky_relu",
        "cures",
        "Every activation: leaky ReLU 0.01 (the reference), ReLU, tanh, GELU or SELU",
        choices=ACTIVATIONS,
    )
    # optimiser and schedule
    optimizer: str = setting(
        "adam",
        "optimiser",
        "adam (the reference, betas 0.9/0.999), adamw, or sgd with momentum 0.9",
        label="Optimiser",  # British, as every heading and text of the dashboard
        choices=OPTIMIZERS,
    )
    nesterov: bool = setting(False, "optimiser", "Nesterov momentum (sgd only)")
    lr: float = setting(1e-3, "optimiser", "The learning rate at epoch 1", label="Learning rate")
    weight_decay: float = setting(0.0, "optimiser", "L2 penalty of the optimiser (decoupled for adamw)")
    epochs: int = setting(100, "optimiser", "Epochs to train")
    batch_size: int = setting(100, "optimiser", "Images per step")
    schedule: str = setting(
        "epoch",
        "optimiser",
        "Cosine annealing stepped per epoch (the reference) or per iteration (the 2023-25 framework)",
        choices=SCHEDULES,
    )
    eta_min: float = setting(2e-5, "optimiser", "Cosine annealing's floor; at most lr", label="LR floor (eta_min)")
    patience: int = setting(0, "optimiser", "Stop after this many epochs without a val gain; 0 = off")
    # gradient amplification (Basodi et al., 2020; vgp_models/amplify.py)
    grad_amp_factor: float = setting(
        1.0,
        "gradient amplification",
        "Multiply the gradient at the chosen layers' outputs by this in backprop; 1 = off",
        label="Amplification factor",
    )
    grad_amp_layers: str = setting(
        "activations",
        "gradient amplification",
        "Which layers may be amplified: every activation (after its BN where BN is on) or every conv's output",
        label="Amplified kind",
        choices=GRAD_AMP_LAYERS,
    )
    grad_amp_ratio: float = setting(
        0.5,
        "gradient amplification",
        "Share of those layers amplified, drawn once from the seed",
        label="Amplified share",
    )
    grad_amp_epochs: str = setting(
        "all",
        "gradient amplification",
        "Epochs with amplification: all, first:N or alternate (1, 3, 5, ...)",
        label="Amplified epochs",
    )
    # run
    seed: int = setting(0, "run", "Seed of the init, the shuffle and the augmentation")
    subset: int = setting(0, "run", "Keep at most this many images of each split (smoke runs); 0 = all")
    device: str = setting("auto", "run", "auto = cuda when available", choices=DEVICES)
    step_every: int = setting(
        0, "run", "Record the training loss every k steps (the per-step curve); 0 = about 50 points an epoch, 1 = all"
    )
    channels_last: bool = setting(
        True, "run", "NHWC memory layout: same maths, ~1.1-1.3x faster VGG38 steps on CPU (benchmarks.md)"
    )
    amp: bool = setting(
        False,
        "run",
        "bf16 autocast around forward and loss (weights, grads and the optimiser stay fp32)",
        label="AMP (bf16)",
    )
    compile: bool = setting(
        False,
        "run",
        "torch.compile the model for training steps (a one-off compile, needs a C compiler on CPU)",
        label="torch.compile",
    )

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
            choices = choices_of(f)
            if choices and value not in choices:
                known = (
                    f" (architectures register on the host: {registry.SETTING} or a plugin)" if f.name == "arch" else ""
                )
                raise ConfigError(f"{f.name} must be one of {', '.join(choices)}{known}, got {value!r}")
        self._check_model()
        self._check_optimiser()
        self._check_amplification()
        _bounded("seed", self.seed, 0, 2**32 - 1)
        _bounded("subset", self.subset, 0, 60_000)
        _bounded("step_every", self.step_every, 0, 1_000_000)

    def _check_model(self) -> None:
        if self.depth < 8 or (self.depth - 8) % 6:
            raise ConfigError(f"depth must be 8 + 6N (8, 14, 20, 26, 32, 38, ..., 68, 74), got {self.depth}")
        if self.depth > 500:
            raise ConfigError(f"depth must be at most 500, got {self.depth}")
        _bounded("width", self.width, 1, 1024)
        if self.arch == "densenet" and (self.residual or self.shortcut != "none"):
            raise ConfigError("densenet has dense connections: residual and shortcut apply to arch vgg only")
        if self.shortcut != "none" and not self.residual:
            raise ConfigError("a reduction-block shortcut needs residual connections on")

    def _check_optimiser(self) -> None:
        if self.nesterov and self.optimizer != "sgd":
            raise ConfigError(f"nesterov applies to optimizer sgd only, got optimizer {self.optimizer!r}")
        _positive_finite("lr", self.lr, upper=10.0)
        _bounded("weight_decay", self.weight_decay, 0.0, 1.0)
        _bounded("epochs", self.epochs, 1, 10_000)
        _bounded("batch_size", self.batch_size, 1, 50_000)
        if self.eta_min > self.lr:
            raise ConfigError(
                f"lr ({self.lr:g}) must be at least the schedule's floor eta_min ({self.eta_min:g}); lower eta_min too"
            )
        _bounded("eta_min", self.eta_min, 0.0, 1.0)
        _bounded("patience", self.patience, 0, 10_000)

    def _check_amplification(self) -> None:
        _bounded("grad_amp_factor", self.grad_amp_factor, 1.0, 1000.0)
        _positive_finite("grad_amp_ratio", self.grad_amp_ratio, upper=1.0)
        if not GRAD_AMP_EPOCHS.fullmatch(self.grad_amp_epochs):
            raise ConfigError(
                f"grad_amp_epochs must be all, alternate or first:N (N from 1), got {self.grad_amp_epochs[:40]!r}"
            )
        if self.grad_amp_factor != 1.0 and self.compile:
            raise ConfigError("gradient amplification's backward hooks need compile off")

    # ---- conversion ------------------------------------------------------------------------------

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> RunConfig:
        """Build and validate from a plain dict (a form, JSON, a database row); unknown keys are an error.
        Fields missing from `values` take their defaults, so configs stored before a field existed still load."""
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

    def amplifies(self, epoch: int) -> bool:
        """Whether gradient amplification is on in 1-based `epoch`: all, first:N (1..N) or alternate (1, 3, ...)."""
        if self.grad_amp_factor == 1.0:
            return False
        if self.grad_amp_epochs == "alternate":
            return epoch % 2 == 1
        if self.grad_amp_epochs.startswith("first:"):
            return epoch <= int(self.grad_amp_epochs.removeprefix("first:"))
        return True

    @property
    def label(self) -> str:
        """A short human name in the report's style: 'VGG38 BN+RC', 'VGG68 BN+RC avgpool', 'VGG38 x64', then
        each cure that is not the reference's: 'VGG38 Kaiming ReLU SGD', 'DenseNet38', 'VGG38 GradAmp x2'."""
        if self.arch not in registry.BUILTIN:  # a registered net is named by its registration; cures still apply
            return " ".join([self.arch, *self.cure_labels()])
        parts = [f"{'DenseNet' if self.arch == 'densenet' else 'VGG'}{self.depth:02d}"]
        extras = [name for name, on in (("BN", self.batch_norm), ("RC", self.residual)) if on]
        if extras:
            parts.append("+".join(extras))
        if self.shortcut != "none":
            parts.append(self.shortcut)
        if self.width != 32:
            parts.append(f"x{self.width}")
        return " ".join(parts + self.cure_labels())

    def cure_labels(self) -> list[str]:
        """The non-reference cures, one short word each: ['Kaiming', 'ReLU', 'SGD-Nesterov', 'GradAmp x2']."""
        out = [] if self.init == "default" else [self.init.capitalize()]
        if self.activation != "leaky_relu":
            out.append(ACTIVATION_NAMES[self.activation])
        if self.optimizer != "adam":
            out.append({"adamw": "AdamW", "sgd": "SGD"}[self.optimizer] + ("-Nesterov" if self.nesterov else ""))
        if self.grad_amp_factor != 1.0:
            epochs = "" if self.grad_amp_epochs == "all" else f" {self.grad_amp_epochs}"
            out.append(f"GradAmp x{self.grad_amp_factor:g} {self.grad_amp_ratio:.0%} {self.grad_amp_layers}{epochs}")
        return out


ACTIVATION_NAMES = {"leaky_relu": "LeakyReLU", "relu": "ReLU", "tanh": "tanh", "gelu": "GELU", "selu": "SELU"}


def _bounded(name: str, value: float, low: float, high: float) -> None:
    if not (low <= value <= high):
        raise ConfigError(f"{name} must be between {low:g} and {high:g}, got {value!r}")


def _positive_finite(name: str, value: float, upper: float) -> None:
    if not math.isfinite(value) or not (0.0 < value <= upper):
        raise ConfigError(f"{name} must be a finite number in (0, {upper:g}], got {value!r}")


def same_config(stored: object, config: RunConfig) -> bool:
    """Whether a checkpoint's config is `config`; one saved before a field existed has that field's default."""
    try:
        return isinstance(stored, dict) and RunConfig.from_dict(stored) == config
    except ConfigError:
        return False
