"""Checkpoints in the database (worker.checkpoints), on real SQLite and Postgres.

An epoch and its checkpoint are one transaction fenced by the job id; resume checks the bytes' sha256 and the run's
uuid; a completed run keeps `best` (or nothing); deleting a run deletes its checkpoints; VGP_CHECKPOINT_STORE=files
keeps the old folder of last.pt/best.pt. Runs are tiny (depth 8, width 8, subset 64) and train in this process.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from sqlalchemy import select, update

from tests.reliability_support import train_on_one_thread
from tests.run_support import epoch_metrics
from vgp_models.config import RunConfig
from vgp_models.metrics import CheckpointMismatch, EpochMetrics, LayerGrad
from vgp_models.train import train
from worker import checkpoints, db, frames, jobs, settings, store
from worker.schema import CheckpointRow, RunStatus

CONFIG = RunConfig(depth=8, width=8, epochs=3, subset=64, batch_size=32, device="cpu", seed=1)
METRICS = ["epoch", "train_loss", "train_acc", "val_loss", "val_acc", "lr"]


@pytest.fixture
def url(database_url: str, cifar_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    for key, value in {"DATABASE_URL": database_url, "VGP_DATA_DIR": str(cifar_dir), "VGP_DOWNLOAD": "0",
                       "VGP_CHECKPOINT_DIR": str(tmp_path / "ckpt"), "VGP_OUTAGE_S": "0"}.items():  # fmt: skip
        monkeypatch.setenv(key, value)
    db.upgrade_database(database_url)
    yield database_url
    db.dispose_engines()


@pytest.fixture(scope="module")
def baseline(cifar_dir: Path) -> tuple[list[EpochMetrics], object]:
    """CONFIG trained without interruption (or checkpoints), on one thread."""
    return train_on_one_thread(CONFIG, cifar_dir)


def running_run(job_id: str | None = "job-a") -> tuple[int, str]:
    """A run claimed by `job_id`, as train_run leaves it; (id, uuid)."""
    with db.session_scope() as s:
        run = store.create_run(s, CONFIG)
        run.job_id = job_id
        s.flush()
        assert store.transition_run(s, run.id, [RunStatus.QUEUED], RunStatus.RUNNING, only_job=job_id)
        return run.id, run.uuid


def stored(run_id: int) -> list[tuple[str, int]]:
    with db.session_scope() as s:
        rows = s.scalars(select(CheckpointRow).where(CheckpointRow.run_id == run_id).order_by(CheckpointRow.kind))
        return [(r.kind, r.epoch) for r in rows]


def epochs_of(run_id: int):  # -> pd.DataFrame
    with db.session_scope() as s:
        return frames.epochs_frame(s, [run_id])


def one_epoch(epoch: int = 1) -> EpochMetrics:
    grads = [LayerGrad(0, "input_conv_conv_0", 1e-3, 1e-3, 0.1)]
    return epoch_metrics(epoch, CONFIG.epochs, train_loss=4.6, train_acc=0.01, val_loss=4.6, val_acc=0.02, seconds=0.5,
                         grads=grads)  # fmt: skip


def test_epoch_and_checkpoint_commit_together_and_resume_skips_a_recorded_epoch(url: str, baseline: tuple) -> None:
    """Crash right after epoch 2's commit: the resumed run starts at epoch 3 (no epoch is trained twice) and
    ends exactly as an uninterrupted one."""
    run_id, run_uuid = running_run()
    trained: list[int] = []

    def crash_after_2(m: EpochMetrics) -> None:
        trained.append(m.epoch)
        assert stored(run_id)[-1] == ("last", m.epoch) and epochs_of(run_id)["epoch"].max() == m.epoch  # same commit
        if m.epoch == 2:
            raise KeyboardInterrupt("the process dies here")

    torch.set_num_threads(1)
    with pytest.raises(KeyboardInterrupt):
        train(CONFIG, checkpoints=checkpoints.DbCheckpoints(run_id, run_uuid, "job-a", crash_after_2),
              data_dir=Path(os.environ["VGP_DATA_DIR"]), run_uuid=run_uuid)  # fmt: skip
    result = train(CONFIG, checkpoints=checkpoints.DbCheckpoints(run_id, run_uuid, "job-a", crash_after_2),
                   data_dir=Path(os.environ["VGP_DATA_DIR"]), run_uuid=run_uuid, resume=True)  # fmt: skip
    assert trained == [1, 2, 3]  # epoch 3 only was trained after the resume
    seen, expected = baseline
    assert epochs_of(run_id)[METRICS].values.tolist() == [[getattr(m, c) for c in METRICS] for m in seen]
    assert (result.test_acc, result.best_epoch) == (expected.test_acc, expected.best_epoch)


def test_a_written_off_job_writes_neither_epoch_nor_checkpoint(url: str) -> None:
    run_id, run_uuid = running_run("job-b")  # the sweep wrote job-a off; job-b owns the run now
    ghost = checkpoints.DbCheckpoints(run_id, run_uuid, "job-a")
    with pytest.raises(store.RunSuperseded, match="no longer running under job job-a"):
        ghost.save(one_epoch(), {"epoch": 1}, {"epoch": 1})
    with db.session_scope() as s, pytest.raises(store.RunSuperseded):  # the files store's metrics write, too
        store.record_epoch(s, run_id, one_epoch(), job_id="job-a")
    assert stored(run_id) == [] and epochs_of(run_id).empty
    checkpoints.DbCheckpoints(run_id, run_uuid, "job-b").save(one_epoch(), {"epoch": 1}, None)
    assert stored(run_id) == [("last", 1)] and epochs_of(run_id)["epoch"].tolist() == [1]


@pytest.mark.parametrize(
    ("tamper", "reason"),
    [
        ({"data": b"not what was written"}, "is corrupt"),
        ({"run_uuid": "00000000-0000-4000-8000-000000000000"}, "belongs to run uuid 00000000"),
    ],
)
def test_a_corrupt_or_foreign_checkpoint_never_resumes(url: str, tamper: dict, reason: str) -> None:
    with db.session_scope() as s:
        run = store.create_run(s, CONFIG)
        run_id, run_uuid = run.id, run.uuid
        store.put_checkpoint(s, run_id, "last", 1, run_uuid, b"x" * 64)
    with db.session_scope() as s:
        s.execute(update(CheckpointRow).where(CheckpointRow.run_id == run_id).values(**tamper))
    with pytest.raises(CheckpointMismatch, match=reason):
        checkpoints.DbCheckpoints(run_id, run_uuid, None).load("cpu")
    assert jobs.train_run(run_id) == "failed"  # through the job: failed, with one line, nothing trained
    with db.session_scope() as s:
        run = store.require_run(s, run_id)
        assert run.status is RunStatus.FAILED and reason in run.reason and "\n" not in run.reason
    assert epochs_of(run_id).empty


@pytest.mark.parametrize(("keep", "left"), [("best", ["best"]), ("none", [])])
def test_a_completed_run_keeps_only_best_or_nothing(url: str, keep: str, left: list, monkeypatch) -> None:
    monkeypatch.setenv("VGP_KEEP_CHECKPOINTS", keep)
    with db.session_scope() as s:
        run_id = store.create_run(s, CONFIG).id
    torch.set_num_threads(1)
    assert jobs.train_run(run_id) == "completed"
    assert [kind for kind, _ in stored(run_id)] == left
    assert not Path(os.environ["VGP_CHECKPOINT_DIR"]).exists()  # the database store writes no files


def test_deleting_a_run_deletes_its_checkpoints(url: str) -> None:
    run_id, run_uuid = running_run()
    checkpoints.DbCheckpoints(run_id, run_uuid, "job-a").save(one_epoch(), {"epoch": 1}, {"epoch": 1})
    with db.session_scope() as s:
        store.set_status(s, run_id, RunStatus.COMPLETED)
    assert len(stored(run_id)) == 2
    with db.session_scope() as s:
        store.delete_run(s, run_id)
    assert stored(run_id) == []


def test_files_store_by_setting(url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VGP_CHECKPOINT_STORE", "files")
    with db.session_scope() as s:
        run = store.create_run(s, CONFIG)
        run_id, run_uuid = run.id, run.uuid
    torch.set_num_threads(1)
    assert jobs.train_run(run_id) == "completed"
    assert stored(run_id) == [] and len(epochs_of(run_id)) == CONFIG.epochs
    folder = tmp_path / "ckpt" / run_uuid  # a folder per run uuid (a new run never finds an old run's files)
    assert (folder / "best.pt").exists() and not (folder / "last.pt").exists()  # completed: keeps only best


def test_bad_settings_fail_the_run_with_one_line(url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VGP_CHECKPOINT_STORE", "nfs")
    with db.session_scope() as s:
        run_id = store.create_run(s, CONFIG).id
    assert jobs.train_run(run_id) == "failed"
    with db.session_scope() as s:
        assert store.require_run(s, run_id).reason == "VGP_CHECKPOINT_STORE must be one of db, files; got 'nfs'"
    monkeypatch.setenv("VGP_KEEP_CHECKPOINTS", "all")
    with pytest.raises(ValueError, match="^VGP_KEEP_CHECKPOINTS must be one of best, none; got 'all'$"):
        settings.keep_setting()
