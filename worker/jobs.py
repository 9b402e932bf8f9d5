"""The RQ job: train one stored run, writing every epoch to the store as it finishes.

`train_run(run_id)` is all RQ sees (by import path, with the run id as its only argument). It runs in the
worker's forked work horse, so torch (and CUDA, when the config asks for it) is first touched here.
Every failure ends as a status and a one-line reason on the run; nothing but a missing database escapes.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass

from vgp_models import registry
from vgp_models.checkpoints import CheckpointStore, FileCheckpoints
from vgp_models.config import ConfigError, RunConfig
from vgp_models.data import DataError, data_dir_from_env
from vgp_models.memory import check_memory
from vgp_models.metrics import CheckpointMismatch, EpochMetrics, TrainResult
from vgp_models.provenance import git_commit, parameter_count
from vgp_models.train import resolve_device, train
from worker.checkpoints import DbCheckpoints, prune_completed
from worker.db import session_scope
from worker.liveness import current_job_id, current_worker_name
from worker.outage import retrying
from worker.progress import StepWriter
from worker.schema import RunStatus
from worker.settings import Settings, store_setting
from worker.store import (
    RunSuperseded,
    checkpoint_dir,
    get_run,
    record_epoch,
    resumed_after,
    squash,
    touch_heartbeat,
    transition_run,
)

log = logging.getLogger(__name__)


class StopPoller:
    """The `should_stop` callback: whether someone asked the run to stop, as the job's last progress write read it
    (`progress.cancel_requested`, runs.cancel_requested_at: no read of its own), plus a heartbeat.

    The heartbeat (every VGP_HEARTBEAT_S) is fenced by the job id: when the run is no longer running under
    this job (reconcile wrote it off as interrupted and queued it again), training stops and `lost` is set.
    A database outage skips heartbeats (and progress writes back off): training goes on.
    """

    def __init__(
        self, run_id: int, progress: StepWriter, heartbeat_s: float | None = None, job_id: str | None = None
    ) -> None:
        self.run_id = run_id
        self.job_id = job_id
        self.progress = progress
        self.heartbeat_s = Settings.from_env().heartbeat_s if heartbeat_s is None else heartbeat_s
        self.lost = False
        self._last_beat = time.monotonic()

    def __call__(self) -> bool:
        if self.lost or self.progress.cancel_requested:
            return True
        now = time.monotonic()
        if now - self._last_beat >= self.heartbeat_s:
            self._last_beat = now
            try:
                with session_scope() as session:
                    owned = touch_heartbeat(session, self.run_id, self.job_id)
            except Exception as e:  # noqa: BLE001 (a busy database must not stop training)
                log.warning("run %d: heartbeat not written (%s: %s)", self.run_id, type(e).__name__, e)
            else:
                if not owned:
                    log.warning("run %d is no longer running under this job; stopping", self.run_id)
                    self.lost = True
        return self.lost


def _mark_failed(run_id: int, reason: str, job_id: str | None, from_status: RunStatus = RunStatus.RUNNING) -> str:
    log.error("run %d failed: %s", run_id, reason)
    with session_scope() as session:
        transition_run(session, run_id, (from_status,), RunStatus.FAILED, reason, only_job=job_id)
    return RunStatus.FAILED.value


def _describe(e: BaseException) -> str:
    return squash(f"{type(e).__name__}: {e}")


def _checkpoint_store(
    kind: str, run_id: int, run_uuid: str, job_id: str | None
) -> tuple[CheckpointStore, Callable[[EpochMetrics], None] | None]:
    """(store, on_epoch) for train(). db: the epoch and its checkpoint in one transaction (on_epoch unused).
    files: on_epoch records the epoch first, then train() writes last.pt. Both fenced by the job id."""

    def log_epoch(metrics: EpochMetrics) -> None:
        log.info(
            "run %d epoch %d/%d: train %.4f / %.3f, val %.4f / %.3f (%.1f s)",
            run_id, metrics.epoch, metrics.epochs, metrics.train_loss, metrics.train_acc, metrics.val_loss,
            metrics.val_acc, metrics.seconds,
        )  # fmt: skip

    if kind == "db":
        return DbCheckpoints(run_id, run_uuid, job_id, on_recorded=log_epoch), None

    def record_then_log(metrics: EpochMetrics) -> None:
        def write() -> None:
            with session_scope() as session:
                record_epoch(session, run_id, metrics, job_id=job_id)

        retrying(f"run {run_id}: writing epoch {metrics.epoch}", write)
        log_epoch(metrics)

    return FileCheckpoints(checkpoint_dir(run_uuid)), record_then_log


@dataclass(frozen=True)
class _QueuedRun:
    """What the job read of its run before claiming it."""

    config: RunConfig
    uuid: str
    kept_reason: str | None  # an automatic resume's reason, kept while it runs: a second death of the cause fails it
    store_kind: str  # VGP_CHECKPOINT_STORE


def _unregistered(stored: object) -> str | None:
    """The reason for a run whose architecture this worker does not have (another host registered it), or None."""
    arch = stored.get("arch") if isinstance(stored, dict) else None
    if not isinstance(arch, str) or arch in registry.names():
        return None
    return (f"architecture {arch[:40]!r} is not registered on this worker ({registry.SETTING} or an installed "
            "plugin, docs/registered-architectures.md); nothing was trained")  # fmt: skip


def _read_queued(run_id: int, job_id: str | None) -> _QueuedRun | str:
    """The queued run, or the job's outcome when there is nothing to train: "missing", "skipped" (not queued),
    or "failed" (its stored config or the checkpoint-store setting is invalid; the run is marked so)."""
    with session_scope() as session:
        run = get_run(session, run_id)
        if run is None:
            log.error("run %d does not exist; nothing to train", run_id)
            return "missing"
        if run.status is not RunStatus.QUEUED:
            log.warning("run %d is %s, not queued; skipping it", run_id, run.status.value)
            return "skipped"
        run_uuid, kept_reason = run.uuid, resumed_after(run.reason)
        try:
            config = run.run_config()
        except (ConfigError, TypeError, ValueError, OverflowError) as e:
            config, invalid = None, _unregistered(run.config) or f"invalid stored config: {_describe(e)}"
    if config is None:
        return _mark_failed(run_id, invalid, job_id, from_status=RunStatus.QUEUED)
    try:
        store_kind = store_setting()
        settings = Settings.from_env()  # the budget, checked before anything is built (the queue checked it too)
        check_memory(config, settings.max_params_x_batch, settings.max_activation_gb)
    except ValueError as e:  # ConfigError included
        return _mark_failed(run_id, str(e), job_id, from_status=RunStatus.QUEUED)
    return _QueuedRun(config, run_uuid, kept_reason, store_kind)


def _claim(run_id: int, job_id: str | None, queued: _QueuedRun, commit: str | None) -> bool:
    """queued -> running under `job_id` (a stale duplicate job, the run queued again under a new one, claims
    nothing), keeping its reason, with the worker and the code's commit; False, with a warning, when the run is
    no longer there to claim."""
    worker_name = current_worker_name() or f"{socket.gethostname()}:{os.getpid()}"
    with session_scope() as session:
        claimed = transition_run(
            session, run_id, (RunStatus.QUEUED,), RunStatus.RUNNING, reason=queued.kept_reason, only_job=job_id,
            worker_name=worker_name[:200], git_sha=commit,
        )  # fmt: skip
    if claimed:
        log.info("run %d started on %s: %s", run_id, worker_name, queued.config.label)
    else:
        log.warning("run %d left the queued state or this job before it started; skipping it", run_id)
    return claimed


def _train(run_id: int, job_id: str | None, queued: _QueuedRun, commit: str | None) -> TrainResult | str:
    """Train the claimed run from its last checkpoint, if any; the result, or the job's outcome when training
    failed ("failed", the run marked so) or the run was taken over by another job ("superseded")."""
    checkpoints, on_epoch = _checkpoint_store(queued.store_kind, run_id, queued.uuid, job_id)
    progress = StepWriter(run_id, job_id)
    poller = StopPoller(run_id, progress, job_id=job_id)
    try:
        params, device = parameter_count(queued.config), str(resolve_device(queued.config))  # no weights allocated
        with session_scope() as session:
            transition_run(session, run_id, (RunStatus.RUNNING,), RunStatus.RUNNING, queued.kept_reason,
                           only_job=job_id, params=params, device=device)  # fmt: skip
        result = train(
            queued.config,
            data_dir=data_dir_from_env(),
            download=Settings.from_env().download,  # torchvision's download where the internet allows
            checkpoints=checkpoints,
            resume=True,
            run_uuid=queued.uuid,
            git_commit=commit,
            on_epoch=on_epoch,
            should_stop=poller,
            on_step=progress,
            on_points=progress.on_points,
        )
    except RunSuperseded as e:
        log.warning("%s; this job stops", e)
        return "superseded"
    except (DataError, CheckpointMismatch) as e:  # a foreign checkpoint is never resumed: the run fails
        return _mark_failed(run_id, _describe(e), job_id)
    except Exception as e:  # includes RQ's JobTimeoutException
        log.exception("run %d crashed", run_id)
        return _mark_failed(run_id, _describe(e), job_id)
    if poller.lost:
        log.warning("run %d was taken over by another job; leaving it as it is", run_id)
        return "superseded"
    return result


def train_run(run_id: int) -> str:
    """Train the stored run `run_id`; return its final status, or what the job did instead ("missing",
    "skipped", "superseded"). RQ calls this in a work horse, with the run id as its only argument."""
    run_id = int(run_id)
    job_id = current_job_id()  # None outside RQ; else the run must still be this job's (every write is fenced)
    queued = _read_queued(run_id, job_id)
    if isinstance(queued, str):
        return queued
    commit = git_commit()
    if not _claim(run_id, job_id, queued, commit):  # cancelled between our read and our claim, or queued again
        return "skipped"  # under another job
    result = _train(run_id, job_id, queued, commit)
    if isinstance(result, str):
        return result
    return _finish(run_id, queued.uuid, result, job_id)


def _finish(run_id: int, run_uuid: str, result: TrainResult, job_id: str | None = None) -> str:
    """Record the outcome, if the run is still running under `job_id` (else another job owns it now). Its
    parameters and device were written when training started (`_train`), once."""
    outcomes = {
        "completed": (
            RunStatus.COMPLETED,
            result.message or None,
            dict(
                best_epoch=result.best_epoch,
                best_val_acc=result.best_val_acc,
                test_loss=result.test_loss,
                test_acc=result.test_acc,
            ),
        ),
        "diverged": (
            RunStatus.DIVERGED,
            result.message or "loss became non-finite",
            dict(diverged_step=result.diverged_step),
        ),
        "cancelled": (RunStatus.CANCELLED, result.message or "cancelled by user", {}),
    }
    status, reason, fields = outcomes.get(
        result.status, (RunStatus.FAILED, f"unknown training outcome {result.status!r}", {})
    )

    def record() -> bool:
        with session_scope() as session:
            return transition_run(session, run_id, (RunStatus.RUNNING,), status, reason, only_job=job_id, **fields)

    if not retrying(f"run {run_id}: recording its outcome", record):
        log.warning("run %d is no longer running under this job; its %s outcome is not recorded", run_id, result.status)
        return "superseded"
    if status is RunStatus.COMPLETED:
        prune_completed(run_id, run_uuid)
    log.info("run %d %s: %s", run_id, result.status, result.message)
    return result.status
