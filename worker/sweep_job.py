"""The RQ job of a depth sweep: measure it (vgp_models.sweep), writing each (cure, depth) to the store as it lands.

`measure_sweep(sweep_id)` is all RQ sees (by import path). Like `worker.jobs.train_run`, it runs in the worker's
forked work horse, fences every write by its job id, and ends every failure as a status with a one-line reason
(worker.measurement_job). Cancelling (worker.cancellation.cancel_sweep) moves the sweep out of running; the job
sees that before the next cell.
"""

from __future__ import annotations

import logging
from typing import Any

from vgp_models.config import RunConfig
from vgp_models.data import data_dir_from_env, load_cifar100
from vgp_models.sweep import Cell, run_sweep
from vgp_models.sweep_config import SweepConfig
from vgp_models.train import resolve_device
from worker import sweeps
from worker.db import session_scope
from worker.measurement_job import MeasurementJob
from worker.settings import Settings

log = logging.getLogger(__name__)


def measure_sweep(sweep_id: int) -> str:
    """Measure the stored sweep `sweep_id`; return its final status ("skipped" when it was not queued)."""
    job = MeasurementJob("sweep", sweep_id, sweeps.require_sweep, sweeps.transition_sweep)

    def on_cell(cell: Cell, done: int, total: int) -> None:
        with session_scope() as session:
            sweeps.record_cell(session, job.item_id, cell.points, done)
        log.info("sweep %d: %d/%d %s depth %d (%.1f s)", job.item_id, done, total, cell.cure, cell.depth, cell.seconds)

    def measure(stored: dict[str, Any]) -> None:
        config = SweepConfig.from_dict(stored)
        device = resolve_device(RunConfig(device=config.device))
        job.set_device(device)
        data = load_cifar100(data_dir_from_env(), device, subset=config.images,
                             download=Settings.from_env().download)  # fmt: skip
        run_sweep(config, data, on_cell=on_cell, should_stop=job.should_stop)

    return job.run(measure)
