"""What training reports, as plain dataclasses: per-layer gradients and forward signal, per-step points, per-epoch
metrics and the run's result. Below train.py and checkpoints.py, which both use them; no torch.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class LayerGrad:
    layer_index: int
    layer: str
    abs_mean_last: float  # mean |grad| of the epoch's last batch: the report's gradient-flow value
    abs_mean_epoch: float  # mean |grad| averaged over the epoch's batches
    l2: float  # L2 norm of the last batch's gradient
    weight_norm: float | None = None  # ||w|| at the epoch's end
    update_ratio: float | None = None  # ||w_end - w_start|| / ||w_start|| over the epoch


@dataclass
class LayerSignal:
    """The forward signal of one layer output on one batch (vgp_models.signals)."""

    layer_index: int
    layer: str
    mean: float
    std: float
    negative_share: float  # share of values < 0, in [0, 1]


@dataclass
class StepPoint:
    """The training loss every k steps: a per-step curve point."""

    step: int  # global, 1-based
    epoch: int  # 1-based
    loss: float  # may be non-finite: the divergence signal
    lr: float
    seconds: float  # wall time since training started


@dataclass
class EpochMetrics:
    epoch: int  # 1-based
    epochs: int
    train_loss: float
    train_acc: float  # fraction 0..1
    val_loss: float
    val_acc: float
    lr: float  # the rate at the epoch's first step
    seconds: float
    grads: list[LayerGrad] = field(default_factory=list)
    signals: list[LayerSignal] = field(default_factory=list)
    steps: list[StepPoint] = field(default_factory=list)  # the epoch's per-step points


@dataclass
class TrainResult:
    status: str  # completed | diverged | cancelled
    epochs_run: int
    best_epoch: int | None
    best_val_acc: float | None
    test_loss: float | None
    test_acc: float | None
    diverged_step: int | None
    params: int
    device: str
    message: str
    amplified_layers: list[str] = field(default_factory=list)  # gradient amplification's seeded draw


class CheckpointMismatch(RuntimeError):
    """A checkpoint that belongs to another run (uuid or config differ); it is never resumed. One line."""
