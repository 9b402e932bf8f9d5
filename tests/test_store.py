"""worker.store on real SQLite and real Postgres: runs, idempotent epoch writes (read back as frames), cascades,
guards, status changes, run metadata, and the heartbeat fenced by the job.

Reads as frames: test_frames.py; engines and sessions: test_db.py.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from sqlalchemy import delete, func, select

from tests.reliability_support import running_run
from tests.store_support import CONFIG, LAYERS, metrics, new_run
from worker import db, frames, store
from worker.schema import EpochRow, GradientRow, Run, RunStatus


def count(url: str, model: type, run_id: int) -> int:
    with db.session_scope(url) as s:
        return s.scalar(select(func.count()).select_from(model).where(model.run_id == run_id))


def test_create_run_defaults_and_round_trip(db_url: str) -> None:
    run_id = new_run(db_url, name="  ", group=" sweep ", tags=["b", "a", "a", " "])
    with db.session_scope(db_url) as s:
        run = store.get_run(s, run_id)
        assert run is not None
        assert run.name == CONFIG.label  # blank name -> the config's label
        assert run.group_name == "sweep"
        assert run.tags == ["a", "b"]
        assert run.note == ""
        assert run.status is RunStatus.QUEUED
        assert run.epochs_total == 3 and run.epochs_done == 0
        assert run.run_config() == CONFIG
        assert run.created_at.tzinfo is not None
        assert store.get_run(s, 10**9) is None
        assert run_id in [r.id for r in store.list_runs(s)]


def test_record_epoch_is_idempotent(db_url: str) -> None:
    run_id = new_run(db_url)
    with db.session_scope(db_url) as s:
        store.record_epoch(s, run_id, metrics(1, val_acc=0.2))
    with db.session_scope(db_url) as s:  # the same epoch again, as after a crash before last.pt
        store.record_epoch(s, run_id, metrics(1, val_acc=0.3, scale=2.0))
    assert count(db_url, EpochRow, run_id) == 1
    assert count(db_url, GradientRow, run_id) == len(LAYERS)
    with db.session_scope(db_url) as s:
        store.record_epoch(s, run_id, metrics(2, val_acc=0.25))
        run = store.require_run(s, run_id)
        assert run.epochs_done == 2
        assert (run.best_epoch, run.best_val_acc) == (1, pytest.approx(0.3))  # the later copy of epoch 1 won
        assert run.heartbeat_at is not None
        epochs = frames.epochs_frame(s, [run_id])
        grads = frames.gradients_frame(s, [run_id])
    assert list(epochs.columns) == list(frames.EPOCH_COLUMNS)
    assert epochs["epoch"].tolist() == [1, 2]
    assert epochs["val_acc"].tolist() == pytest.approx([0.3, 0.25])
    assert list(grads.columns) == list(frames.GRADIENT_COLUMNS)
    assert len(grads) == 2 * len(LAYERS)
    first = grads[grads["epoch"] == 1]
    assert first["layer"].tolist() == LAYERS
    assert first["abs_mean_last"].tolist() == pytest.approx([2.0, 4.0, 6.0])
    assert str(grads["layer_index"].dtype) == "int64" and str(grads["l2"].dtype) == "float64"


def test_non_finite_metrics_are_stored_as_null(db_url: str) -> None:
    run_id = new_run(db_url)
    with db.session_scope(db_url) as s:
        store.record_epoch(s, run_id, metrics(1, train_loss=math.nan))
        store.record_epoch(s, run_id, metrics(2, train_loss=math.inf))
    with db.session_scope(db_url) as s:
        assert frames.epochs_frame(s, [run_id])["train_loss"].isna().all()


def test_delete_cascades_in_the_database(db_url: str) -> None:
    run_id = new_run(db_url)
    with db.session_scope(db_url) as s:
        store.record_epoch(s, run_id, metrics(1))
    with db.session_scope(db_url) as s:  # a Core DELETE: only the foreign keys' ON DELETE CASCADE can help
        s.execute(delete(Run).where(Run.id == run_id))
    assert count(db_url, EpochRow, run_id) == 0
    assert count(db_url, GradientRow, run_id) == 0


def test_delete_run_refuses_live_runs_and_removes_checkpoints(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VGP_CHECKPOINT_DIR", str(tmp_path))
    run_id = new_run(db_url)
    with db.session_scope(db_url) as s:
        folder = store.checkpoint_dir(store.require_run(s, run_id).uuid)
        folder.mkdir(parents=True)
        store.record_epoch(s, run_id, metrics(1))
        with pytest.raises(ValueError, match="cancel it"):
            store.delete_run(s, run_id)
        store.set_status(s, run_id, RunStatus.COMPLETED)
        run_uuid = store.delete_run(s, run_id)
        assert folder.exists()  # files go only after the commit
    store.remove_checkpoints(run_uuid)
    assert count(db_url, GradientRow, run_id) == 0
    assert not folder.exists()


def test_delete_run_rechecks_the_status_in_its_own_statement(db_url: str) -> None:
    """A run resumed after the deleting session read it as finished is not deleted (one conditional DELETE)."""
    run_id = new_run(db_url)
    with db.session_scope(db_url) as s:
        store.set_status(s, run_id, RunStatus.COMPLETED)
    with db.session_scope(db_url) as s:
        shown = store.require_run(s, run_id)  # held: the session's identity map keeps it as it was read
        assert shown.status is RunStatus.COMPLETED
        with db.session_scope(db_url) as other:
            store.set_status(other, run_id, RunStatus.QUEUED)  # someone resumed it meanwhile
        with pytest.raises(ValueError, match="queued"):
            store.delete_run(s, run_id)
    with db.session_scope(db_url) as s:
        assert store.require_run(s, run_id).status is RunStatus.QUEUED


def test_status_changes(db_url: str) -> None:
    run_id = new_run(db_url)
    with db.session_scope(db_url) as s:
        assert store.transition_run(s, run_id, [RunStatus.QUEUED], RunStatus.RUNNING, worker_name="w1")
        assert not store.transition_run(s, run_id, [RunStatus.QUEUED], RunStatus.CANCELLED)  # lost the race
        run = store.require_run(s, run_id)
        assert run.status is RunStatus.RUNNING and run.worker_name == "w1" and run.started_at is not None
        run = store.set_status(s, run_id, "failed", reason="RuntimeError: line one\nline two\n", params=123)
        assert run.reason == "RuntimeError: line one line two"
        assert run.finished_at is not None and run.params == 123
        with pytest.raises(TypeError, match="unknown field"):
            store.set_status(s, run_id, RunStatus.FAILED, config={})
        with pytest.raises(store.RunNotFound, match="no run with id"):
            store.set_status(s, 10**9, RunStatus.FAILED)
    with db.session_scope(db_url) as s:
        assert store.require_run(s, run_id).status is RunStatus.FAILED


def test_update_run_meta(db_url: str) -> None:
    run_id = new_run(db_url, group="g")
    with db.session_scope(db_url) as s:
        store.update_run_meta(s, run_id, name="renamed", group="", tags=["x"], note="=1+1")
    with db.session_scope(db_url) as s:
        run = store.require_run(s, run_id)
        assert (run.name, run.group_name, run.tags, run.note) == ("renamed", None, ["x"], "=1+1")


def test_heartbeat_is_fenced_by_the_job(store_url: str) -> None:
    run_id = running_run(heartbeat_age_s=0, job_id="job-a")
    with db.session_scope() as s:
        assert store.touch_heartbeat(s, run_id, "job-a")
        assert not store.touch_heartbeat(s, run_id, "job-b")
        assert store.transition_run(s, run_id, [RunStatus.RUNNING], RunStatus.INTERRUPTED)
        assert not store.touch_heartbeat(s, run_id, "job-a")


def test_record_epoch_writes_signals_updates_and_steps_idempotently(db_url: str) -> None:
    from vgp_models.metrics import LayerSignal, StepPoint
    from worker.schema import GradientRow, SignalRow, StepRow

    run_id = new_run(db_url)
    m = metrics(1)
    m.grads[0].weight_norm, m.grads[0].update_ratio = 2.5, 0.125
    m.signals = [LayerSignal(0, "input_conv_conv_0", 0.1, 2.0, 0.25), LayerSignal(1, "logit", -1.0, float("inf"), 1.0)]
    m.steps = [StepPoint(5, 1, 4.5, 1e-3, 0.5), StepPoint(10, 1, float("nan"), 1e-3, 1.0)]
    for _ in range(2):  # the second write replaces the first
        with db.session_scope(db_url) as s:
            store.record_epoch(s, run_id, m)
    with db.session_scope(db_url) as s:
        grads = s.query(GradientRow).filter_by(run_id=run_id).order_by(GradientRow.layer_index).all()
        signals = s.query(SignalRow).filter_by(run_id=run_id).order_by(SignalRow.layer_index).all()
        steps = s.query(StepRow).filter_by(run_id=run_id).order_by(StepRow.step).all()
        assert (grads[0].weight_norm, grads[0].update_ratio, grads[1].weight_norm) == (2.5, 0.125, None)
        assert [(r.mean, r.std, r.negative_share) for r in signals] == [(0.1, 2.0, 0.25), (-1.0, None, 1.0)]
        assert [(r.step, r.epoch, r.loss) for r in steps] == [(5, 1, 4.5), (10, 1, None)]
