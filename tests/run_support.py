"""A tiny training run and synthetic epochs, for tests that need a run but not what it learns."""

from __future__ import annotations

from typing import Any

from vgp_models.config import RunConfig
from vgp_models.metrics import EpochMetrics


def tiny(epochs: int = 2, seed: int = 0, **fields: Any) -> RunConfig:
    """VGG08 at width 8 on 64 images, batches of 32, on the CPU: a few tenths of a second an epoch."""
    return RunConfig(depth=8, width=8, epochs=epochs, subset=64, batch_size=32, device="cpu", seed=seed, **fields)


def epoch_metrics(epoch: int = 1, epochs: int = 3, **fields: Any) -> EpochMetrics:
    """Epoch `epoch` of `epochs` with plausible CIFAR-100 numbers and no layers; `fields` set any other field
    (grads, signals, steps, losses...)."""
    defaults = dict(train_loss=4.0, train_acc=0.1, val_loss=4.1, val_acc=0.1, lr=1e-3, seconds=1.0)
    return EpochMetrics(epoch=epoch, epochs=epochs, **(defaults | fields))
