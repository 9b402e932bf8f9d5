"""worker.sweeps: a sweep's row and its points in the store, on SQLite and Postgres: created queued with its cell
count, moved only from the statuses named (and only by its own job), a cell written again replaces the first copy,
points come back in measuring order with their ratio, and a missing sweep is SweepNotFound."""

from __future__ import annotations

import math

import pytest

from vgp_models.sweep import SweepPoint
from vgp_models.sweep_config import SweepConfig
from worker import db, frames, sweeps
from worker.schema import RunStatus

CONFIG = SweepConfig(depths=(8, 14), cures=("BN", "none"), seeds=2)


def test_a_sweep_moves_only_from_the_statuses_named_and_only_by_its_job(store_url: str) -> None:
    with db.session_scope() as s:
        sweep = sweeps.create_sweep(s, CONFIG)
        assert (sweep.status, sweep.cells_total, sweep.cells_done) == (RunStatus.QUEUED, 4, 0)
        sweep.job_id, sweep_id = "job-1", sweep.id
    with db.session_scope() as s:
        assert not sweeps.transition_sweep(s, sweep_id, (RunStatus.RUNNING,), RunStatus.COMPLETED)
        assert not sweeps.transition_sweep(s, sweep_id, (RunStatus.QUEUED,), RunStatus.RUNNING, only_job="job-2")
        assert sweeps.transition_sweep(s, sweep_id, (RunStatus.QUEUED,), RunStatus.RUNNING, only_job="job-1")
    with db.session_scope() as s:
        assert sweeps.require_sweep(s, sweep_id).status is RunStatus.RUNNING
        assert frames.sweeps_frame(s)["id"].tolist() == [sweep_id]
        with pytest.raises(sweeps.SweepNotFound, match="no sweep with id 999999"):
            sweeps.require_sweep(s, 999_999)


def test_points_replace_their_cell_and_come_back_in_measuring_order(store_url: str) -> None:
    with db.session_scope() as s:
        sweep_id = sweeps.create_sweep(s, CONFIG).id
    cells = [(cure, depth) for cure in ("none", "BN") for depth in (14, 8)]  # not in the sweep's order
    for done, (cure, depth) in enumerate(cells, start=1):
        with db.session_scope() as s:
            points = [SweepPoint(cure, depth, seed, 1e-3 * (seed + 1), 1.0) for seed in (1, 0)]
            sweeps.record_cell(s, sweep_id, points, done)
    with db.session_scope() as s:  # the last cell measured again (a resumed job): replaced, not added
        sweeps.record_cell(s, sweep_id, [SweepPoint("BN", 8, 0, math.nan, 2.0, note="skipped: no BN")], 4)
    with db.session_scope() as s:
        points = frames.sweep_points_frame(s, sweep_id)
        assert sweeps.require_sweep(s, sweep_id).cells_done == 4
    assert list(zip(points["cure"], points["depth"], points["seed"], strict=True)) == [
        ("BN", 8, 0), ("BN", 14, 0), ("BN", 14, 1), ("none", 8, 0), ("none", 8, 1), ("none", 14, 0), ("none", 14, 1)
    ]  # fmt: skip
    assert math.isnan(points.loc[0, "first"]) and points.loc[0, "note"] == "skipped: no BN"
    assert points.loc[1:, "ratio"].tolist() == pytest.approx([1e-3, 2e-3, 1e-3, 2e-3, 1e-3, 2e-3])
