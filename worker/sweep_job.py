"""The RQ job of a depth sweep: measure it (vgp_models.sweep), writing each (cure, depth) to the store as it lands.

`measure_sweep(sweep_id)` is all RQ sees (by import path). Like `worker.jobs.train_run`, it runs in the worker's
forked work horse, fences every write by its job id, and ends every failure as a status with a one-line reason.
Cancelling (worker.cancellation.cancel_sweep) moves the sweep out of running; the job sees that before the next cell.
"""

from __future__ import annotations

import logging
import os
import socket

from vgp_models.config import ConfigError, RunConfig
from vgp_models.data import DataError, data_dir_from_env, load_cifar100
from vgp_models.sweep import Cell, run_sweep
from vgp_models.sweep_config import SweepConfig
from vgp_models.train import resolve_device
from worker import sweeps
from worker.db import session_scope
from worker.liveness import current_job_id, current_worker_name
from worker.schema import RunStatus
from worker.settings import Settings
from worker.store import squash

log = logging.getLogger(__name__)


def measure_sweep(sweep_id: int) -> str:
    """Measure the stored sweep `sweep_id`; return its final status ("skipped" when it was not queued)."""
    sweep_id = int(sweep_id)
    job_id = current_job_id()
    worker_name = (current_worker_name() or f"{socket.gethostname()}:{os.getpid()}")[:200]
    with session_scope() as session:
        stored = dict(sweeps.require_sweep(session, sweep_id).config)
        claimed = sweeps.transition_sweep(session, sweep_id, (RunStatus.QUEUED,), RunStatus.RUNNING,
                                          only_job=job_id, worker_name=worker_name)  # fmt: skip
    if not claimed:
        log.warning("sweep %d is not queued under this job; skipping it", sweep_id)
        return "skipped"

    def finish(status: RunStatus, reason: str | None = None) -> str:
        with session_scope() as session:
            done = sweeps.transition_sweep(session, sweep_id, (RunStatus.RUNNING,), status, reason, only_job=job_id)
        return status.value if done else "superseded"

    def on_cell(cell: Cell, done: int, total: int) -> None:
        with session_scope() as session:
            sweeps.record_cell(session, sweep_id, cell.points, done)
        log.info("sweep %d: %d/%d %s depth %d (%.1f s)", sweep_id, done, total, cell.cure, cell.depth, cell.seconds)

    def should_stop() -> bool:  # once per (cure, depth): a cancelled sweep is no longer running
        with session_scope() as session:
            return sweeps.require_sweep(session, sweep_id).status is not RunStatus.RUNNING

    try:
        config = SweepConfig.from_dict(stored)
        device = resolve_device(RunConfig(device=config.device))
        with session_scope() as session:
            sweeps.transition_sweep(session, sweep_id, (RunStatus.RUNNING,), RunStatus.RUNNING, only_job=job_id,
                                    device=str(device))  # fmt: skip
        data = load_cifar100(data_dir_from_env(), device, subset=config.images,
                             download=Settings.from_env().download)  # fmt: skip
        run_sweep(config, data, on_cell=on_cell, should_stop=should_stop)
    except (ConfigError, DataError) as e:
        return finish(RunStatus.FAILED, squash(e))
    except Exception as e:  # includes RQ's JobTimeoutException
        log.exception("sweep %d crashed", sweep_id)
        return finish(RunStatus.FAILED, squash(f"{type(e).__name__}: {e}"))
    return finish(RunStatus.COMPLETED)
