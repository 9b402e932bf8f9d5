"""Shared by the tracking tests: a tiny training loop written in the course framework's ExperimentBuilder shape
(`run_train_iter`, `run_experiment`), with the five tracking calls where docs/track.md puts them.

Run as a script (`python -m tests.track_support URL NAME [--forever]`) it trains one tracked run into the database
at URL: the SIGKILL test kills it mid-run.
"""

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from vgp_models.track import Run, RunCancelled

ROOT = Path(__file__).resolve().parents[1]


def tiny_model(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 8 * 8, 10)
    )


def batches(n: int, batch_size: int = 16, seed: int = 0) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """`n` batches of random 3x8x8 images, labelled by their mean colour (so that the net learns something)."""
    g = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(n):
        x = torch.randn(batch_size, 3, 8, 8, generator=g)
        out.append((x, (x.mean(dim=(1, 2, 3)) * 20).long().clamp(0, 9)))
    return out


class ExperimentBuilder(nn.Module):
    """The course framework's ExperimentBuilder, cut to its shape, plus the tracking calls (marked TRACK)."""

    def __init__(self, model: nn.Module, name: str, num_epochs: int, train_data, val_data, test_data, **run_kwargs):
        super().__init__()
        self.model, self.experiment_name, self.num_epochs = model, name, num_epochs
        self.train_data, self.val_data, self.test_data = train_data, val_data, test_data
        self.optimizer = torch.optim.Adam(self.parameters(), lr=1e-2, amsgrad=False, weight_decay=0)
        self.run_kwargs = run_kwargs
        self.run: Run | None = None

    def run_train_iter(self, x, y):
        self.train()
        out = self.model.forward(x)
        loss = F.cross_entropy(input=out, target=y)
        self.optimizer.zero_grad()
        loss.backward()
        self.run.step(loss=loss, lr=self.optimizer.param_groups[0]["lr"])  # TRACK 3: after backward, before step
        self.optimizer.step()
        accuracy = (out.argmax(1) == y).float().mean().item()
        return loss.item(), accuracy

    @torch.no_grad()
    def run_evaluation_iter(self, x, y):
        self.eval()
        out = self.model.forward(x)
        return F.cross_entropy(out, y).item(), (out.argmax(1) == y).float().mean().item()

    def run_experiment(self):
        config = {"lr": 1e-2, "num_epochs": self.num_epochs, "model": "tiny-cnn"}
        with Run(name=self.experiment_name, config=config, **self.run_kwargs) as self.run:  # TRACK 1
            self.run.watch(self.model)  # TRACK 2
            total_losses = {"train_acc": [], "train_loss": [], "val_acc": [], "val_loss": []}
            for _epoch_idx in range(self.num_epochs):
                current = {"train_acc": [], "train_loss": [], "val_acc": [], "val_loss": []}
                for x, y in self.train_data:
                    loss, accuracy = self.run_train_iter(x=x, y=y)
                    current["train_loss"].append(loss)
                    current["train_acc"].append(accuracy)
                for x, y in self.val_data:
                    loss, accuracy = self.run_evaluation_iter(x=x, y=y)
                    current["val_loss"].append(loss)
                    current["val_acc"].append(accuracy)
                for key, value in current.items():
                    total_losses[key].append(np.mean(value))
                self.run.epoch(**{k: v[-1] for k, v in total_losses.items()})  # TRACK 4
            test = [self.run_evaluation_iter(x, y) for x, y in self.test_data]
            test_losses = {"test_loss": np.mean([t[0] for t in test]), "test_acc": np.mean([t[1] for t in test])}
            self.run.test(**test_losses)  # TRACK 5
        return total_losses, test_losses


def loop_until_cancelled(name: str, sink, pause_s: float, **run_kwargs) -> tuple[threading.Thread, dict]:
    """A tracked loop through `sink` (steps `pause_s` apart, an epoch every four) in a thread of its own, started,
    that runs until the run is cancelled from outside; the thread, and a dict that gets the RunCancelled as "error"."""
    outcome: dict = {}

    def loop() -> None:
        model = tiny_model()
        try:
            with Run(name, sink=sink, **run_kwargs) as run:
                run.watch(model)
                while True:
                    for x, y in batches(4):
                        F.cross_entropy(model(x), y).backward()
                        run.step(loss=1.0)
                        model.zero_grad()
                        time.sleep(pause_s)
                    run.epoch(train_loss=1.0, train_acc=0.5, val_loss=1.0, val_acc=0.5)
        except RunCancelled as e:
            outcome["error"] = e

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    return thread, outcome


def builder(name: str, epochs: int = 2, steps: int = 6, **run_kwargs) -> ExperimentBuilder:
    return ExperimentBuilder(tiny_model(), name, epochs, batches(steps), batches(2, seed=1), batches(2, seed=2),
                             **run_kwargs)  # fmt: skip


if __name__ == "__main__":  # the SIGKILL test's tracked process: trains until it is killed
    url, name = sys.argv[1], sys.argv[2]
    builder(name, epochs=10_000, database=url).run_experiment()
