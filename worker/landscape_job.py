"""The RQ job of a loss landscape: measure it (vgp_models.landscape), writing each point to the store as it lands.

`measure_landscape_job(landscape_id)` is all RQ sees (by import path). Like the depth sweep's job, it runs in the
worker's forked work horse, fences every write by its job id, and ends every failure as a status with a one-line
reason (worker.measurement_job). Cancelling (worker.cancellation.cancel_landscape) moves the landscape out of
running; the job sees that before the next point. A run's checkpoint comes from the database (VGP_CHECKPOINT_STORE=db)
or its file (VGP_CHECKPOINT_DIR/<uuid>/<kind>.pt), checked against its sha256 and the run's uuid, loaded with
weights_only.
"""

from __future__ import annotations

import hashlib
import logging
from typing import Any

import torch

from vgp_models.checkpoints import from_bytes
from vgp_models.config import ConfigError, RunConfig
from vgp_models.data import data_dir_from_env, load_cifar100
from vgp_models.landscape import LandscapePoint, checkpoint_config, load_checkpoint_file, measure_landscape
from vgp_models.landscape_config import LandscapeConfig
from vgp_models.metrics import CheckpointMismatch
from vgp_models.train import resolve_device
from worker import landscapes
from worker.db import session_scope
from worker.measurement_job import MeasurementJob
from worker.settings import Settings
from worker.store import checkpoint_dir, get_checkpoint, require_run

log = logging.getLogger(__name__)


def run_checkpoint(run_id: int, kind: str, device: torch.device) -> dict:
    """The run's `kind` checkpoint state: its database row (sha256 and run uuid checked), else its file."""
    with session_scope() as session:
        run_uuid = require_run(session, run_id).uuid
        row = get_checkpoint(session, run_id, kind)
        found = None if row is None else (row.data, row.sha256, row.run_uuid)
    where = f"run {run_id}'s {kind} checkpoint"
    if found is not None:
        data, sha256, owner = found
        if hashlib.sha256(data).hexdigest() != sha256:
            raise CheckpointMismatch(f"{where} is corrupt (its bytes do not match their sha256)")
        if owner != run_uuid:
            raise CheckpointMismatch(f"{where} belongs to run uuid {owner}, not {run_uuid}")
        return from_bytes(data, device)
    path = checkpoint_dir(run_uuid) / f"{kind}.pt"
    if not path.is_file():
        raise ConfigError(f"run {run_id} keeps no {kind} checkpoint (VGP_KEEP_CHECKPOINTS, or an imported run)")
    return load_checkpoint_file(path, device)


def centre(config: LandscapeConfig, device: torch.device) -> tuple[RunConfig, dict | None]:
    """(the net's RunConfig, its checkpoint state or None for a fresh net of the preset)."""
    if config.run_id is not None:
        state = run_checkpoint(config.run_id, config.kind, device)
        return checkpoint_config(state, f"run {config.run_id}'s {config.kind} checkpoint"), state
    if config.preset is None:
        raise ConfigError("a queued landscape needs a run id or a fresh preset")
    return RunConfig.from_preset(config.preset), None


def measure_landscape_job(landscape_id: int) -> str:
    """Measure the stored landscape `landscape_id`; return its final status ("skipped" when it was not queued)."""
    job = MeasurementJob("landscape", landscape_id, landscapes.require_landscape, landscapes.transition_landscape)

    def on_point(point: LandscapePoint, done: int, total: int) -> None:
        with session_scope() as session:
            landscapes.record_points(session, job.item_id, [point], done)
        log.info("landscape %d: %d/%d loss %.4g (%.1f s)", job.item_id, done, total, point.loss, point.seconds)

    def measure(stored: dict[str, Any]) -> None:
        config = LandscapeConfig.from_dict(stored)
        device = resolve_device(RunConfig(device=config.device))
        job.set_device(device)
        run_config, state = centre(config, device)
        data = load_cifar100(data_dir_from_env(), device, subset=config.images,
                             download=Settings.from_env().download)  # fmt: skip
        measure_landscape(config, run_config, state, data, device, on_point=on_point, should_stop=job.should_stop)

    return job.run(measure)
