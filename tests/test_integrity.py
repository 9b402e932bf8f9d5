"""Issue 10's integrity guarantees, end to end on the real store and Redis: a run never continues another's
checkpoint, resume never drops a pending cancel, and the Runs page says "cancelling" until a run has stopped.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from tests.reliability_support import epochs_of, make_env, run_row, tiny
from worker import db, queue, store
from worker.jobs import train_run
from worker.schema import RunStatus


@pytest.fixture
def env(tmp_path: Path, cifar_dir: Path, database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict]:
    """Database, Redis (db 15), data and checkpoints of this test, set in this process; the database migrated."""
    variables = make_env(tmp_path, cifar_dir, database_url)
    for key, value in variables.items():
        monkeypatch.setenv(key, value)
    db.upgrade_database(database_url)
    yield variables
    db.dispose_engines()


def new_run(epochs: int = 2) -> int:
    with db.session_scope() as s:
        return store.create_run(s, tiny(epochs=epochs)).id


def test_ids_are_never_reused_after_a_delete(env: dict) -> None:
    first, last = new_run(), new_run()
    with db.session_scope() as s:
        store.set_status(s, last, RunStatus.COMPLETED)
        store.delete_run(s, last)
    assert new_run() == last + 1 > first


def test_a_new_run_in_a_database_made_anew_trains_from_scratch(
    tmp_path: Path, cifar_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """var/vgp.db removed and migrated again while var/checkpoints/ stays: the new run 1 is not the old run 1."""
    url = f"sqlite:///{tmp_path / 'vgp.db'}"
    for key, value in make_env(tmp_path, cifar_dir, url).items():
        monkeypatch.setenv(key, value)
    db.upgrade_database(url)
    old = new_run()
    assert train_run(old) == "completed"
    db.dispose_engines()
    for path in tmp_path.glob("vgp.db*"):
        path.unlink()
    db.upgrade_database(url)
    try:
        run_id = new_run()
        assert run_id == old  # the same id, the same config: only the uuid tells the runs apart
        assert train_run(run_id) == "completed"
        assert epochs_of(run_id)["epoch"].tolist() == [1, 2]  # trained, not "completed at once" with old results
        assert len(list((tmp_path / "checkpoints").iterdir())) == 2
    finally:
        db.dispose_engines()


def test_a_foreign_checkpoint_in_a_runs_folder_fails_it_in_one_line(env: dict) -> None:
    donor, run_id = new_run(), new_run()
    assert train_run(donor) == "completed"
    with db.session_scope() as s:
        source = store.checkpoint_dir(store.require_run(s, donor).uuid)
        target = store.checkpoint_dir(store.require_run(s, run_id).uuid)
    shutil.copytree(source, target)  # e.g. a folder restored from the wrong backup
    assert train_run(run_id) == "failed"
    run = run_row(run_id)
    assert run.reason.startswith("CheckpointMismatch: ") and "\n" not in run.reason
    assert "belongs to another run" in run.reason and run.epochs_done == 0
    assert torch.load(target / "last.pt", weights_only=True)["run_uuid"] == run_row(donor).uuid  # left alone


def test_resume_refuses_a_running_run_and_keeps_its_pending_cancel(env: dict) -> None:
    """Cancel, then Resume, on a run whose job is still loading data: the cancel must still stop it."""
    run_id = new_run()
    with db.session_scope() as s:
        store.transition_run(s, run_id, [RunStatus.QUEUED], RunStatus.RUNNING)
    try:
        assert queue.cancel_run(run_id) is RunStatus.RUNNING
        with pytest.raises(ValueError, match="is running"):
            queue.resume_run(run_id)
        assert queue.cancel_requested(run_id)
        assert run_row(run_id).status is RunStatus.RUNNING
    finally:
        queue.clear_cancel_flag(run_id)


def test_resume_clears_a_stopped_runs_leftover_flag(env: dict) -> None:
    run_id = new_run()
    with db.session_scope() as s:
        store.transition_run(s, run_id, [RunStatus.QUEUED], RunStatus.RUNNING)
    queue.cancel_run(run_id)
    with db.session_scope() as s:  # its worker died before the job saw the flag; a sweep wrote it off
        store.transition_run(s, run_id, [RunStatus.RUNNING], RunStatus.INTERRUPTED)
    try:
        queue.resume_run(run_id)
        assert not queue.cancel_requested(run_id) and run_row(run_id).status is RunStatus.QUEUED
    finally:
        queue.clear_cancel_flag(run_id)
        queue.get_queue().delete(delete_jobs=True)
