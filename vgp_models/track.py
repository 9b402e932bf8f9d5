"""Track your own PyTorch training loop in VGP Lab: live in the dashboard (`database=`) or as a run folder (`out=`).

    with Run(name="resnet56", config={"lr": 0.1}, database=URL) as run:   # or out="runs/resnet56"
        run.watch(model)                      # every weight tensor's gradient flow, as for VGP Lab's own runs
        for epoch in range(epochs):
            for x, y in loader:
                loss = ...; loss.backward()
                run.step(loss=loss)           # after backward, before zero_grad
                optimizer.step(); optimizer.zero_grad()
            run.epoch(train_loss=..., train_acc=..., val_loss=..., val_acc=...)
        run.test(test_loss=..., test_acc=...)

docs/track.md is the guide. Gradient statistics are `vgp_models.gradstats`' (accumulated on the device, read once
per epoch); a loss passed as a tensor is read every `every` steps only, so tracking costs no per-step sync.
Leaving the `with` block completes the run; an exception fails it (and goes on up), Ctrl-C interrupts it, and
`RunCancelled` (the dashboard's Cancel, raised at the next step()) cancels it. A non-finite loss marks it diverged.
Writes never stop training: a sink that cannot write any more is replaced by a run folder, said in one line.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
import numbers
import os
import sys
import time
import uuid
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import torch
from torch import nn

from vgp_models.error_lines import error_line
from vgp_models.gradstats import GradientStats, weight_parameters
from vgp_models.metrics import EpochMetrics, LayerGrad, StepPoint, TrainResult
from vgp_models.provenance import git_commit
from vgp_models.track_sink import SINK_GROUP, FolderSink, Progress, RunInfo, Sink

__all__ = ["POINTS_PER_EPOCH", "Run", "RunCancelled", "TrackingError", "TrackingTypeError"]

POINTS_PER_EPOCH = 50
"""Per-step loss points recorded per epoch by default (`every=None`); `every=1` records every step."""

FALLBACK_DIR = "vgp-runs"
"""Where a run goes when its database stops answering and no `out=` was given: ./vgp-runs/<name>-<uuid8>."""


class TrackingError(ValueError):
    """A call the run cannot take (a bad value, or a call out of order); one line naming the argument or call."""


class TrackingTypeError(TrackingError, TypeError):
    """An argument of the wrong type; one line naming it."""


class RunCancelled(Exception):
    """Raised by `step()` once the run was cancelled (the dashboard's Cancel); the run ends as cancelled."""


def _number(name: str, value: Any, *, finite: bool = True, lo: float | None = None, hi: float | None = None) -> float:
    """`value` as a float (a Python or numpy number, or a one-element tensor), or a one-line error naming `name`."""
    if isinstance(value, torch.Tensor):
        if value.numel() != 1:
            raise TrackingError(f"{name} must be one number, got a tensor of shape {tuple(value.shape)}")
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TrackingTypeError(f"{name} must be a number, got {type(value).__name__}")
    value = float(value)
    if finite and not math.isfinite(value):
        raise TrackingError(f"{name} must be finite, got {value}")
    if math.isfinite(value) and ((lo is not None and value < lo) or (hi is not None and value > hi)):
        raise TrackingError(f"{name} must be in {lo:g}..{hi:g}, got {value:g}")
    return value


def _json_config(config: Any) -> dict[str, Any]:
    """The user's config as plain JSON (str keys; numbers, strings, booleans, None, lists and dicts of them)."""
    if config is None:
        return {}
    if not isinstance(config, dict):
        raise TrackingTypeError(f"config must be a dict, got {type(config).__name__}")

    def plain(value: Any, where: str) -> Any:
        if value is None or isinstance(value, bool | str):
            return value
        if isinstance(value, numbers.Real):
            return int(value) if isinstance(value, numbers.Integral) else float(value)
        if isinstance(value, list | tuple):
            return [plain(v, f"{where}[{i}]") for i, v in enumerate(value)]
        if isinstance(value, dict):
            return {str(k): plain(v, f"{where}.{k}") for k, v in value.items()}
        raise TrackingTypeError(f"{where} must be a number, string, bool, list or dict, got {type(value).__name__}")

    return {str(k): plain(v, f"config.{k}") for k, v in config.items()}


def _database_sink(database: str) -> Sink:
    """The installed database sink at `database`: the `database` entry point of SINK_GROUP, which VGP Lab's own
    package declares (pyproject.toml), so that vgp_models never names worker; loaded only when asked for."""
    found = entry_points(group=SINK_GROUP, name="database")
    install = "pip install -e '/path/to/vgp-lab[db]'"
    if not found:
        raise TrackingError(f"database= needs VGP Lab's database sink installed ({install})")
    try:
        sink_class = next(iter(found)).load()
    except ImportError as e:  # the package without its db extra (sqlalchemy, psycopg, redis)
        raise TrackingError(f"database= needs VGP Lab's db extra ({install}): {e}") from None
    return sink_class(database)


class Run:
    """One tracked run; see the module docstring. `database` (else DATABASE_URL) or `out`: with both, the
    database is written and `out` is where the run goes if the database stops answering for VGP_OUTAGE_S."""

    def __init__(
        self,
        name: str,
        config: dict[str, Any] | None = None,
        *,
        database: str | None = None,
        out: str | Path | None = None,
        epochs: int | None = None,
        every: int | None = None,
        sink: Sink | None = None,
    ) -> None:
        if not isinstance(name, str) or not name.strip():
            raise TrackingTypeError(f"name must be a non-empty string, got {name!r}")
        self.name = name.strip()[:200]
        self.config = _json_config(config)
        for arg, value in (("epochs", epochs), ("every", every)):
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
                raise TrackingTypeError(f"{arg} must be a whole number >= 1, got {value!r}")
        self.epochs = epochs if epochs is not None else self._config_epochs()
        self.every = every
        self.out = Path(out) if out is not None else None
        database = database or (os.environ.get("DATABASE_URL") if out is None else None)
        if sink is None and database is None and out is None:
            raise TrackingError("Run needs database= (or DATABASE_URL) or out=")
        self.sink: Sink = sink or (_database_sink(database) if database else FolderSink(self.out))
        self.uuid = str(uuid.uuid4())
        self._stats: GradientStats | None = None
        self._info: RunInfo | None = None
        self._epoch_metrics: list[EpochMetrics] = []  # everything so far, replayed into a folder on a failover
        self._points: list[StepPoint] = []  # this epoch's
        self._best: tuple[float, int] | None = None  # (val acc, epoch): strictly greater wins, as train.py
        self._test: tuple[float, float] | None = None  # (test loss, test acc)
        self._step = self._epoch_step = 0
        self._steps_per_epoch: int | None = None
        self._lr: float | None = None
        self._epoch_lr: float | None = None
        self._first_bad: torch.Tensor | None = None  # the first non-finite step of tensor losses, on the device
        self._diverged_step: int | None = None
        self._t0 = time.perf_counter()
        self._epoch_t0 = self._t0
        self._epoch_started_at: dt.datetime | None = None
        self._finished = False

    def _config_epochs(self) -> int | None:
        value = self.config.get("epochs")
        return value if isinstance(value, int) and not isinstance(value, bool) and value >= 1 else None

    # ---- the context manager ------------------------------------------------------------------------

    def __enter__(self) -> Run:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, _tb: Any) -> bool:
        if kind is None:
            status, message = "completed", "completed"
        elif issubclass(kind, RunCancelled):
            status, message = "cancelled", "cancelled by user"
        elif issubclass(kind, KeyboardInterrupt):
            status, message = "interrupted", "stopped with Ctrl-C (KeyboardInterrupt)"
        else:
            status, message = "failed", error_line(error)
        self.finish(status, message)
        return False  # the exception, if any, goes on up

    def finish(self, status: str = "completed", message: str = "completed") -> None:
        """End the run (the `with` block does this; once); a run that has diverged stays diverged."""
        if self._info is None or self._finished:  # never watched (nothing was started), or ended already
            return
        self._finished = True
        self._check_first_bad()
        if self._diverged_step is not None:
            status, message = "diverged", f"loss became non-finite at step {self._diverged_step}"
        elif self.sink.cancelled and status == "completed":
            status, message = "cancelled", "cancelled by user"
        best_val, best_epoch = self._best if self._best else (None, None)
        tested = self._test if status == "completed" else None
        result = TrainResult(
            status, len(self._epoch_metrics), best_epoch, best_val, tested[0] if tested else None,
            tested[1] if tested else None, self._diverged_step, self._info.params, self._info.device, message,
        )  # fmt: skip
        self._call(lambda sink: sink.finish(result))

    # ---- the five calls -----------------------------------------------------------------------------

    def watch(self, model: nn.Module) -> None:
        """Record the gradient flow of every weight tensor of `model` (labels from its parameter names, in
        registration order); starts the run. Call it once, before the first step()."""
        if not isinstance(model, nn.Module):
            raise TrackingTypeError(f"watch() takes a torch.nn.Module, got {type(model).__name__}")
        if self._stats is not None:
            raise TrackingError("watch() was already called for this run; call it once, with the whole model")
        if not weight_parameters(model):
            raise TrackingError(f"watch(): {type(model).__name__} has no trainable weight tensor to watch")
        self._stats = GradientStats(model)
        first = self._stats.params[0]
        self._info = RunInfo(
            self.uuid, self.name, self.config, self.epochs, sum(p.numel() for p in model.parameters()),
            first.device.type, list(self._stats.labels), git_commit(),
        )  # fmt: skip
        self._t0 = self._epoch_t0 = time.perf_counter()
        try:
            self.sink.start(self._info)
        except FileExistsError as e:
            raise TrackingError(str(e)) from None
        self._check_sink()

    def step(self, loss: Any, lr: Any = None) -> None:
        """One training step's loss (a float, or the loss tensor itself: read only every `every` steps), after
        backward() and before zero_grad(); `lr` optionally. Raises RunCancelled once the run was cancelled."""
        if self._stats is None:
            raise TrackingError("step() before watch(): call run.watch(model) first")
        if self.sink.cancelled:
            raise RunCancelled(f"run {self.name!r} was cancelled from the dashboard ({self.sink.where})")
        if isinstance(loss, torch.Tensor):
            if loss.numel() != 1:
                raise TrackingError(f"loss must be one number, got a tensor of shape {tuple(loss.shape)}")
            loss = loss.detach()
        else:
            loss = _number("loss", loss, finite=False)
        lr = None if lr is None else _number("lr", lr, lo=0.0)
        missing = next((label for label, p in zip(self._stats.labels, self._stats.params) if p.grad is None), None)
        if missing is not None:
            raise TrackingError(f"step(): {missing} has no gradient; call step() after backward(), before zero_grad()")
        self._stats.update()
        self._step += 1
        self._epoch_step += 1
        if self._epoch_step == 1:
            self._epoch_lr, self._epoch_started_at = lr, dt.datetime.now(dt.UTC)
        self._lr = lr if lr is not None else self._lr
        if isinstance(loss, torch.Tensor):
            bad = ~torch.isfinite(loss)
            if self._first_bad is None:
                self._first_bad = torch.full((), -1, dtype=torch.long, device=loss.device)
            self._first_bad = torch.where(bad & (self._first_bad < 0), self._step, self._first_bad)
        elif not math.isfinite(loss) and self._diverged_step is None:
            self._mark_diverged(self._step)
        if self._step_recorded():
            self._check_first_bad()
            value = loss.item() if isinstance(loss, torch.Tensor) else loss  # a sync only at recorded steps
            point_lr = lr if lr is not None else (self._lr if self._lr is not None else math.nan)
            epoch = len(self._epoch_metrics) + 1
            self._points.append(StepPoint(self._step, epoch, value, point_lr, time.perf_counter() - self._t0))
            self._call(lambda sink: sink.steps(list(self._points), self._progress()))

    def epoch(self, train_loss: Any, train_acc: Any, val_loss: Any, val_acc: Any, lr: Any = None, **extra: Any) -> None:
        """End an epoch: its train and validation loss and accuracy (fractions 0..1), and the gradient flow of its
        steps. Losses may be non-finite (the run is then diverged)."""
        if extra:
            raise TrackingTypeError(f"epoch() got an unexpected argument {sorted(extra)[0]!r}")
        if self._stats is None or self._epoch_step == 0:
            raise TrackingError("epoch() before any step() of the epoch: call run.step(loss=...) every step")
        values = {"train_loss": _number("train_loss", train_loss, finite=False),
                  "train_acc": _number("train_acc", train_acc, lo=0.0, hi=1.0),
                  "val_loss": _number("val_loss", val_loss, finite=False),
                  "val_acc": _number("val_acc", val_acc, lo=0.0, hi=1.0)}  # fmt: skip
        lr = _number("lr", lr, lo=0.0) if lr is not None else self._epoch_lr
        self._check_first_bad()
        grads = self._stats.read()  # the epoch's one sync
        number = len(self._epoch_metrics) + 1
        metrics = EpochMetrics(
            number, max(self.epochs or 0, number), values["train_loss"], values["train_acc"], values["val_loss"],
            values["val_acc"], lr if lr is not None else math.nan, time.perf_counter() - self._epoch_t0,
            [LayerGrad(i, label, grads["abs_mean_last"][i], grads["abs_mean_epoch"][i], grads["l2"][i])
             for i, label in enumerate(self._stats.labels)],
            steps=list(self._points),
        )  # fmt: skip
        self._epoch_metrics.append(metrics)
        finite = math.isfinite(values["train_loss"]) and math.isfinite(values["val_loss"])
        if self._diverged_step is None and not finite:
            self._mark_diverged(self._step)
        if self._best is None or values["val_acc"] > self._best[0]:
            self._best = (values["val_acc"], number)
        self._steps_per_epoch = self._steps_per_epoch or self._epoch_step
        self._stats.reset()
        self._points, self._epoch_step, self._epoch_t0 = [], 0, time.perf_counter()
        self._call(lambda sink: sink.epoch(metrics))

    def test(self, test_loss: Any, test_acc: Any) -> None:
        """The test set's loss and accuracy (0..1), recorded when the run completes."""
        self._test = (_number("test_loss", test_loss), _number("test_acc", test_acc, lo=0.0, hi=1.0))

    # ---- inside ---------------------------------------------------------------------------------------

    def _step_recorded(self) -> bool:
        """Every `every` steps; by default about POINTS_PER_EPOCH an epoch: in the first epoch, whose length is
        not known yet, every step until 50 points and then every 2nd, 4th, ... step."""
        if self.every is not None:
            every = self.every
        elif self._steps_per_epoch is not None:
            every = max(1, self._steps_per_epoch // POINTS_PER_EPOCH)
        else:
            every = 2 ** max(0, math.ceil(math.log2(self._epoch_step / POINTS_PER_EPOCH)))
        return self._epoch_step % every == 0

    def _check_first_bad(self) -> None:
        """Read the device's first non-finite step of tensor losses: a sync, at recorded steps, epochs and the end."""
        if self._first_bad is not None and self._diverged_step is None:
            bad = int(self._first_bad.item())
            if bad >= 0:
                self._mark_diverged(bad)

    def _progress(self) -> Progress:
        return Progress(self._epoch_step, self._steps_per_epoch, self._epoch_started_at)

    def _mark_diverged(self, step: int) -> None:
        self._diverged_step = step
        reason = f"loss became non-finite at step {step}"
        self._call(lambda sink: sink.diverged(step, reason))

    def _call(self, write: Any) -> None:
        write(self.sink)
        if self._check_sink():
            write(self.sink)  # the folder has every epoch so far; this write may be the end

    def _check_sink(self) -> bool:
        """A sink that gave up is replaced by a run folder holding everything so far (said in one line)."""
        if self.sink.broken is None or self._info is None:
            return False
        folder = self.out or Path(FALLBACK_DIR) / f"{_slug(self.name)}-{self.uuid[:8]}"
        was, reason = self.sink.where, self.sink.broken
        # A fresh uuid: the folder is the complete run, importable beside the database's partial copy.
        self.uuid = str(uuid.uuid4())
        self._info = dataclasses.replace(self._info, uuid=self.uuid)
        self.sink = FolderSink(folder)
        print(f"VGP Lab: cannot write {was} ({reason}); training goes on, writing the run to {folder}",
              file=sys.stderr)  # fmt: skip
        self.sink.start(self._info)
        for metrics in self._epoch_metrics:
            self.sink.epoch(metrics)
        return True


def _slug(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "-" for c in name)[:60] or "run"
