"""worker.store on real SQLite and real Postgres: runs, idempotent epoch writes, frames, cascades, guards."""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import postgres_database
from sqlalchemy import delete, func, select

from vgp_models.config import RunConfig
from vgp_models.train import EpochMetrics, LayerGrad
from worker import db, frames, store
from worker.schema import EpochRow, GradientRow, Run, RunStatus

CONFIG = RunConfig(depth=8, width=8, epochs=3, subset=64, batch_size=32, device="cpu")
LAYERS = ["input_conv_conv_0", "block_0_0_conv_0", "logit_linear_layer"]


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def db_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('store') / 'vgp.db'}"
        db.upgrade_database(url)
        yield url
        db.dispose_engines()
    else:
        with postgres_database() as url:
            db.upgrade_database(url)
            yield url


def metrics(epoch: int, val_acc: float = 0.1, scale: float = 1.0, train_loss: float = 4.0) -> EpochMetrics:
    grads = [LayerGrad(i, label, scale * (i + 1), scale * (i + 2), scale * (i + 3)) for i, label in enumerate(LAYERS)]
    return EpochMetrics(epoch, CONFIG.epochs, train_loss, 0.05, 4.1, val_acc, 1e-3, 1.5, grads)


def new_run(url: str, **kwargs: object) -> int:
    with db.session_scope(url) as s:
        return store.create_run(s, CONFIG, store.RunMeta(**kwargs)).id  # type: ignore[arg-type]


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


def test_frames_for_several_runs_and_none(db_url: str) -> None:
    a, b = new_run(db_url), new_run(db_url)
    with db.session_scope(db_url) as s:
        store.record_epoch(s, b, metrics(1))
        store.record_epoch(s, a, metrics(1))
        store.record_epoch(s, a, metrics(2))
    with db.session_scope(db_url) as s:
        both = frames.epochs_frame(s, [b, a])
        assert both[["run_id", "epoch"]].values.tolist() == [[a, 1], [a, 2], [b, 1]]
        empty = frames.epochs_frame(s, [])
        assert empty.empty and list(empty.columns) == list(frames.EPOCH_COLUMNS)
        only_two = frames.gradients_frame(s, [a], epochs=[2])
        assert set(only_two["epoch"]) == {2} and len(only_two) == len(LAYERS)
        runs = frames.runs_frame(s, [a, b])
        assert sorted(runs["id"]) == sorted([a, b]) and set(runs["label"]) == {CONFIG.label}


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


def test_sqlite_connections_use_wal_and_foreign_keys(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'var' / 'vgp.db'}"  # the folder is created on first use
    try:
        with db.get_engine(url).connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == db.SQLITE_BUSY_TIMEOUT_MS
        assert db.get_engine(url) is db.get_engine(url)
    finally:
        db.dispose_engines()
