"""Where a tracked run goes (`vgp_models.track`): the sink protocol, and the sink that writes a run folder.

A sink receives a run's start, its per-step points, each epoch and its end. The folder sink lives here (torch-free
but for the torch version in config.json); the database sink is `worker.tracking.DatabaseSink`, which the Run finds
by name in SINK_GROUP only when it is given a database. A sink never raises into the user's training: one that
cannot write any more sets `broken` to a one-line reason, and the Run switches to a folder.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from vgp_models.metrics import EpochMetrics, StepPoint, TrainResult
from vgp_models.run_folder import CONFIG_JSON, FORMAT, SUMMARY_CSV, RunFolder

SINK_GROUP = "vgp_lab.tracking_sinks"
"""Entry-point group of the installed sinks; `database` is VGP Lab's own (pyproject.toml:
worker.tracking:DatabaseSink)."""

TRACKED = "tracked"
"""runs.origin of a tracked run, and the `origin` of a tracked run folder's config.json."""


@dataclass(frozen=True)
class RunInfo:
    """What a tracked run is: its name, the user's config (JSON-ready), the model's weights, where it runs."""

    uuid: str
    name: str
    config: dict[str, Any]
    epochs: int | None  # planned epochs, when the user said
    params: int
    device: str
    labels: list[str] = field(default_factory=list)  # the watched weights, in registration order
    git_commit: str | None = None


@dataclass(frozen=True)
class Progress:
    """Step k of the epoch in flight (of N, once known) and when its first step was done."""

    epoch_step: int
    epoch_steps: int | None
    epoch_started_at: dt.datetime | None


class Sink(Protocol):
    where: str  # one phrase for messages: 'run #12 in postgresql://...' or 'the folder runs/x'
    broken: str | None  # set (one line) when the sink cannot write any more; the Run then switches to a folder
    cancelled: bool  # someone asked the run to stop (the dashboard's Cancel)

    def start(self, info: RunInfo) -> None: ...

    def steps(self, points: list[StepPoint], progress: Progress) -> None: ...

    def epoch(self, metrics: EpochMetrics) -> None: ...

    def diverged(self, step: int, reason: str) -> None: ...

    def finish(self, result: TrainResult) -> None: ...


class FolderSink:
    """A run folder in `vgp_models.run_folder`'s format, with `origin: tracked` and the user's own config in
    config.json; `python -m worker import` and the Runs page's zip upload read it back. Per-step points are not
    part of the folder format."""

    broken: str | None = None
    cancelled = False

    def __init__(self, path: str | Path) -> None:
        self.folder = RunFolder(Path(path))
        self.where = f"the folder {self.folder.path}"

    def start(self, info: RunInfo) -> None:
        path = self.folder.path
        if (path / CONFIG_JSON).exists() or (path / SUMMARY_CSV).exists():
            raise FileExistsError(f"out: {path} already holds a run; give a new folder")
        path.mkdir(parents=True, exist_ok=True)
        import torch

        self.folder.record = {
            "format": FORMAT, "origin": TRACKED, "run_uuid": info.uuid, "label": info.name, "config": info.config,
            "epochs": info.epochs, "params": info.params, "device": info.device, "torch": torch.__version__,
            "git_commit": info.git_commit, "started_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "status": "running",
        }  # fmt: skip
        self.folder.write_record()

    def steps(self, points: list[StepPoint], progress: Progress) -> None:
        pass

    def epoch(self, metrics: EpochMetrics) -> None:
        self.folder.on_epoch(metrics)

    def diverged(self, step: int, reason: str) -> None:
        pass  # the end's record says it

    def finish(self, result: TrainResult) -> None:
        self.folder.finish(result)
