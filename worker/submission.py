"""Putting work on the queue: submit a run (or one per seed), a depth sweep or a loss landscape, resume a stopped run.

Each checks what it can before writing anything (the memory budget, Redis answering); if enqueueing fails after
the row exists, the row is kept and marked failed with a one-line reason (so the attempt stays visible), and
`QueueError` is raised carrying its id.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime

from sqlalchemy.orm import Session

from vgp_models.config import ConfigError, RunConfig
from vgp_models.landscape_config import LandscapeConfig
from vgp_models.memory import check_memory
from vgp_models.sweep_config import SweepConfig
from worker import landscapes, sweeps
from worker.connection import QueueError, require_redis
from worker.db import session_scope
from worker.queue import enqueue_landscape, enqueue_run, enqueue_run_job, enqueue_sweep, run_job_id
from worker.schema import RunOrigin, RunStatus
from worker.settings import Settings
from worker.store import RunMeta, create_run, require_run, set_status, transition_run

MAX_SEEDS = 100
"""The most runs one "repeat with N seeds" queues."""

RESUMABLE = (RunStatus.INTERRUPTED, RunStatus.FAILED, RunStatus.CANCELLED)


def check_budget(config: RunConfig, settings: Settings) -> None:
    """ConfigError (one line) when a run is over this installation's memory budgets: parameters x batch size
    (VGP_MAX_PARAMS_X_BATCH) or a training step's activations (VGP_MAX_ACTIVATION_GB); see vgp_models.memory."""
    check_memory(config, settings.max_params_x_batch, settings.max_activation_gb)


def submit_run(config: RunConfig, meta: RunMeta | None = None) -> int:
    """Create a queued run and enqueue it; return its id. The Launch page and `python -m worker submit` call this.

    Raises QueueError before writing anything when Redis does not answer a ping; if enqueueing fails later,
    the run stays in the database marked failed with a one-line reason, and QueueError carries its id.
    Raises ValueError (one line) for a bad setting and ConfigError for a run over the memory budget, also
    before writing anything.
    """
    check_budget(config, Settings.from_env())
    require_redis()
    with session_scope() as session:  # the job id is written with the row: the job never runs on a row without it
        run = create_run(session, config, meta or RunMeta())
        run_id = run.id
        job_id = run.job_id = run_job_id(run_id)
    try:
        enqueue_run_job(run_id, job_id, config.epochs)
    except QueueError as e:
        with session_scope() as session:
            set_status(session, run_id, RunStatus.FAILED, reason=f"not queued: {e}")
        raise
    return run_id


def seed_configs(config: RunConfig, seeds: int) -> list[RunConfig]:
    """`seeds` copies of `config` that differ only in seed: config.seed, config.seed + 1, ... (each validated).

    Raises ValueError for a count outside 1..MAX_SEEDS and ConfigError for a seed past RunConfig's bound.
    """
    if isinstance(seeds, bool) or not isinstance(seeds, int) or not 1 <= seeds <= MAX_SEEDS:
        raise ValueError(f"seeds must be a whole number from 1 to {MAX_SEEDS}, got {seeds!r}")
    return [RunConfig.from_dict({**config.to_dict(), "seed": config.seed + k}) for k in range(seeds)]


def seeds_group(config: RunConfig, seeds: int, now: datetime) -> str:
    """The group a repeat over seeds files its runs under: 'VGG38 BN+RC × 3 seeds · 2026-11-29 15:20:05'."""
    return f"{config.label} × {seeds} seeds · {now:%Y-%m-%d %H:%M:%S}"


def submit_seeds(config: RunConfig, seeds: int, meta: RunMeta | None = None) -> list[int]:
    """Queue `seeds` runs of `config` differing only in seed (`seed_configs`), as one group; return their ids.

    One seed is a plain `submit_run`. Several are named '<name or label> · seed k' and grouped under meta.group,
    or `seeds_group` when none is given. Every config is validated before the first run is written; a queue
    failure part-way raises QueueError, with the runs queued so far left in place.
    """
    configs = seed_configs(config, seeds)
    meta = meta or RunMeta()
    if seeds == 1:
        return [submit_run(config, meta)]
    group = (meta.group or "").strip() or seeds_group(config, seeds, datetime.now())
    base = (meta.name or "").strip() or config.label
    return [submit_run(c, replace(meta, name=f"{base} · seed {c.seed}", group=group)) for c in configs]


def submit_sweep(config: SweepConfig) -> int:
    """Create a queued depth sweep and enqueue its job; return its id. Redis down: QueueError before any write;
    an enqueue failing later leaves the sweep failed with a one-line reason."""
    return _submit_measurement(
        "sweep", lambda s: sweeps.create_sweep(s, config), sweeps.transition_sweep, enqueue_sweep
    )


def submit_landscape(config: LandscapeConfig) -> int:
    """Create a queued loss landscape and enqueue its job; return its id. Refused in one line before any write
    (ConfigError, LookupError) when it names neither a run nor a preset, or a run that does not exist or keeps
    no such checkpoint; Redis down: QueueError; an enqueue failing later leaves it failed, as a sweep."""
    if config.run_id is None and config.preset is None:
        raise ConfigError("a landscape needs a run (with a kept checkpoint) or a fresh preset")
    if config.run_id is not None:
        with session_scope() as session:
            run = require_run(session, config.run_id)
            if not landscapes.checkpoint_kept(session, run, config.kind):
                raise ConfigError(f"run {run.id} keeps no {config.kind} checkpoint (a completed run keeps its best "
                                  "one unless VGP_KEEP_CHECKPOINTS=none; an imported run keeps none)")  # fmt: skip
    return _submit_measurement(
        "landscape", lambda s: landscapes.create_landscape(s, config), landscapes.transition_landscape,
        lambda item_id, job_id: enqueue_landscape(item_id, job_id, config.total, config.images),
    )  # fmt: skip


def _submit_measurement(
    noun: str, create: Callable[[Session], object], transition: Callable[..., bool], enqueue: Callable[[int, str], None]
) -> int:
    """Write a queued row (`create`) with its job id, enqueue its job; an enqueue failure marks it failed."""
    require_redis()
    with session_scope() as session:
        row = create(session)
        item_id = row.id  # type: ignore[attr-defined]
        job_id = row.job_id = f"vgp-{noun}-{item_id}-{secrets.token_hex(4)}"  # type: ignore[attr-defined]
    try:
        enqueue(item_id, job_id)
    except QueueError as e:
        with session_scope() as session:
            transition(session, item_id, (RunStatus.QUEUED,), RunStatus.FAILED, f"not queued: {e}")
        raise
    return item_id


def resume_run(run_id: int) -> str:
    """Queue an interrupted, failed or cancelled run again; it continues from its last checkpoint.

    Returns the new job id. Raises RunNotFound, ValueError for other statuses and for a run that no job of ours
    trained (an imported run has no checkpoint: resuming it would train from scratch over its imported epochs; a
    tracked run was trained by the user's own loop: no job can continue it), QueueError if Redis refuses.
    """
    run_id = int(run_id)
    with session_scope() as session:  # a run's origin never changes: checked once, before Redis is asked
        origin = require_run(session, run_id).origin
    if origin is RunOrigin.IMPORTED:
        raise ValueError(f"run {run_id} was imported from a run folder and has no checkpoint to resume; "
                         "Rerun queues its config as a new run")  # fmt: skip
    if origin is RunOrigin.TRACKED:
        raise ValueError(f"run {run_id} is tracked (your own training loop); run your script again to continue it")
    require_redis()
    with session_scope() as session:  # refused before anything is touched: a pending cancel stays pending
        if not transition_run(session, run_id, RESUMABLE, RunStatus.QUEUED):
            status = require_run(session, run_id).status
            raise ValueError(f"run {run_id} is {status.value}; only interrupted, failed or cancelled runs resume")
    try:
        return enqueue_run(run_id)
    except QueueError as e:
        with session_scope() as session:
            set_status(session, run_id, RunStatus.FAILED, reason=f"not queued: {e}")
        raise
