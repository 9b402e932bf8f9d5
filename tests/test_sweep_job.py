"""worker.sweep_job: a queued sweep run as an RQ job (in this process, as a work horse would) writes every point
to the store, fails in one line without data, never runs once cancelled, and raises for a sweep that is gone (the
worker records the job failed: test_runner.py)."""

from __future__ import annotations

import pytest

from tests.reliability_support import work_in_process
from vgp_models.data import load_cifar100
from vgp_models.sweep import run_sweep
from vgp_models.sweep_config import SweepConfig
from worker import cancellation, db, frames, submission, sweeps
from worker.schema import RunStatus
from worker.sweep_job import measure_sweep

TINY = SweepConfig(depths=(8, 14), cures=("none", "BN+RC"), seeds=2, batches=1, batch_size=8)


def test_queued_sweep_runs_as_a_job_and_stores_its_points(redis_env, cifar_dir, monkeypatch):
    monkeypatch.setenv("VGP_DATA_DIR", str(cifar_dir))
    sweep_id = submission.submit_sweep(TINY)
    with db.session_scope() as s:
        row = sweeps.require_sweep(s, sweep_id)
        assert (row.status, row.cells_total, row.cells_done) == (RunStatus.QUEUED, 4, 0)
    work_in_process()
    with db.session_scope() as s:
        row = sweeps.require_sweep(s, sweep_id)
        assert row.status is RunStatus.COMPLETED, row.reason
        assert row.cells_done == 4 and row.device == "cpu" and row.worker_name and row.finished_at
        points = frames.sweep_points_frame(s, sweep_id)
    assert len(points) == 8 and points["cure"].tolist() == ["none"] * 4 + ["BN+RC"] * 4
    assert points["depth"].tolist() == [8, 8, 14, 14] * 2 and points["seed"].tolist() == [0, 1] * 4
    assert (points["ratio"] == points["first"] / points["last"]).all() and (points["ratio"] > 0).all()
    data = load_cifar100(cifar_dir, subset=TINY.images)  # the stored numbers are the sweep's own
    expected = run_sweep(TINY, data)[1].points[1]
    assert (points.loc[3, "first"], points.loc[3, "last"], points.loc[3, "last_signal_std"]) == pytest.approx(
        (expected.first, expected.last, expected.last_signal_std))  # fmt: skip


def test_sweep_without_data_fails_in_one_line(redis_env, tmp_path, monkeypatch):
    monkeypatch.setenv("VGP_DATA_DIR", str(tmp_path / "none"))
    monkeypatch.setenv("VGP_DOWNLOAD", "0")
    sweep_id = submission.submit_sweep(TINY)
    work_in_process()
    with db.session_scope() as s:
        row = sweeps.require_sweep(s, sweep_id)
        assert row.status is RunStatus.FAILED and row.reason.startswith("no CIFAR-100 at ") and "\n" not in row.reason


def test_cancelled_queued_sweep_never_runs(redis_env, cifar_dir, monkeypatch):
    monkeypatch.setenv("VGP_DATA_DIR", str(cifar_dir))
    sweep_id = submission.submit_sweep(TINY)
    assert cancellation.cancel_sweep(sweep_id) is RunStatus.CANCELLED
    work_in_process()
    with db.session_scope() as s:
        assert sweeps.require_sweep(s, sweep_id).status is RunStatus.CANCELLED
        assert frames.sweep_points_frame(s, sweep_id).empty


def test_a_sweep_that_is_gone_raises(env: dict) -> None:
    with pytest.raises(sweeps.SweepNotFound):
        measure_sweep(999_999)
