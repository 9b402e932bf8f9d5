"""Where `train()` keeps a run's checkpoints: the seam between the loop and storage.

A checkpoint store has two methods. `train()` calls `save(metrics, last, best)` once per epoch, after
`on_epoch`, with the epoch's metrics, its resume state (`last`) and, on a val gain, the best model (`best`);
`load(device)` gives back the latest resume state, or None when there is none. A store that can write the
metrics and the state together (the worker's database store) records each epoch exactly once; the file store
here (`last.pt`, `best.pt` in a folder, for the CLI and `VGP_CHECKPOINT_STORE=files`) ignores the metrics.

Every state carries `git_commit`, the commit of the code that wrote it (`provenance.git_commit`); states written before
that field existed load all the same. States are plain dicts of tensors, numbers and strings, serialised with
`torch.save` and read back with `weights_only=True`, so a checkpoint can never run code when it is loaded.
"""

from __future__ import annotations

import io
import os
import uuid
from pathlib import Path
from typing import Protocol

import torch

from vgp_models.metrics import EpochMetrics

KINDS = ("last", "best")
"""`last`: everything a resume needs (model, optimiser, schedule, best model). `best`: the best-val model alone."""


class CheckpointStore(Protocol):
    def load(self, device: torch.device | str) -> dict | None: ...

    def save(self, metrics: EpochMetrics, last: dict, best: dict | None) -> None: ...


def to_bytes(state: dict) -> bytes:
    buffer = io.BytesIO()
    torch.save(state, buffer)
    return buffer.getvalue()


def from_bytes(data: bytes, device: torch.device | str = "cpu") -> dict:
    return torch.load(io.BytesIO(data), map_location=device, weights_only=True)


def _save_file(state: dict, path: Path) -> None:
    """Write then rename, so that a crash mid-write never leaves a torn checkpoint. The temporary name is
    unique, so a written-off job that still runs never races its successor on one file."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)


class FileCheckpoints:
    """`last.pt` and `best.pt` in one folder (made on the first save)."""

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)

    def __str__(self) -> str:
        return str(self.folder / "last.pt")

    def load(self, device: torch.device | str) -> dict | None:
        path = self.folder / "last.pt"
        return torch.load(path, map_location=device, weights_only=True) if path.exists() else None

    def save(self, metrics: EpochMetrics, last: dict, best: dict | None) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        if best is not None:  # first, so that best.pt is never older than last.pt's best_epoch
            _save_file(best, self.folder / "best.pt")
        _save_file(last, self.folder / "last.pt")
