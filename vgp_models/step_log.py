"""Per-step curves: the training loss (and lr) every k steps, kept on the device and read at the loop's sync points.

k is `config.step_every`, or with 0 (the default) the one that gives about POINTS_PER_EPOCH points an epoch.
Losses stay on the device as they are recorded; `flush()` reads all pending ones in one copy, and train.py calls it
only right after its divergence check (already a sync, every DIVERGENCE_CHECK_EVERY steps) and at an epoch's end,
so recording adds no sync of its own and changes no result. Each flush hands the new points to `on_points` (the
worker writes them while the epoch trains); the epoch's own points go into EpochMetrics.steps.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import torch

from vgp_models.metrics import StepPoint

POINTS_PER_EPOCH = 50


def step_interval(step_every: int, steps_per_epoch: int) -> int:
    """Steps between two points: `step_every`, or with 0 about POINTS_PER_EPOCH points an epoch (at least 1)."""
    return step_every if step_every > 0 else max(1, steps_per_epoch // POINTS_PER_EPOCH)


class StepLog:
    def __init__(self, every: int, on_points: Callable[[list[StepPoint]], None] | None = None) -> None:
        self.every, self.on_points = every, on_points
        self.t0 = time.perf_counter()  # seconds count from the start of training (resume_at: of the run)
        self.points: list[StepPoint] = []  # the current epoch's, read
        self._pending: list[tuple[int, int, torch.Tensor, float, float]] = []

    def elapsed(self) -> float:
        """Seconds of training so far, this process's and those of the runs it resumed."""
        return time.perf_counter() - self.t0

    def resume_at(self, seconds: float) -> None:
        """Count on from `seconds` of earlier training (a resumed run), so that its wall-time axis never goes back."""
        self.t0 = time.perf_counter() - seconds

    def start_epoch(self) -> None:
        self.points, self._pending = [], []

    def record(self, step: int, global_step: int, epoch: int, loss: torch.Tensor, lr: float) -> None:
        """Keep the loss of 1-based epoch step `step` when it falls on the interval (no sync: it stays on device)."""
        if step % self.every == 0:
            self._pending.append((global_step, epoch, loss.detach(), lr, time.perf_counter() - self.t0))

    def flush(self) -> None:
        """Read the pending losses in one copy and hand the new points to `on_points`."""
        if not self._pending:
            return
        losses = torch.stack([loss for _, _, loss, _, _ in self._pending]).double().cpu().tolist()
        new = [StepPoint(step, epoch, value, lr, seconds)
               for (step, epoch, _, lr, seconds), value in zip(self._pending, losses)]  # fmt: skip
        self._pending = []
        self.points.extend(new)
        if self.on_points is not None:
            self.on_points(new)
