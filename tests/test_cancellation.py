"""worker.cancellation: cancelling a queued run (its job leaves the queue) and a running one (through its flag, which
the job reads and clears), in this process on real Redis and the test database; and the cancel flag on a shared
Redis: two installs (other queue, other database) never cancel each other's runs, and a flag left behind never stops
a later run that got the same id; every flag expires.

A job deaf to its flag is stopped by the worker process: test_runner.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.env_support import drop_queue, make_env, require_redis
from tests.reliability_support import run_row, work_in_process
from tests.run_support import tiny
from vgp_models.config import RunConfig
from worker import cancellation, connection, db, queue, store, submission
from worker.schema import RunStatus

TINY = tiny()


def install(tmp_path: Path, cifar_dir: Path, monkeypatch: pytest.MonkeyPatch, database: str, queue_name: str) -> None:
    """Point this process at one install: a migrated SQLite file and a queue, on the shared test Redis."""
    url = f"sqlite:///{tmp_path / database}"
    for key, value in make_env(tmp_path, cifar_dir, url, VGP_QUEUE=queue_name).items():
        monkeypatch.setenv(key, value)
    db.upgrade_database(url)


def running_run() -> int:
    with db.session_scope() as s:
        run_id = store.create_run(s, tiny()).id
    with db.session_scope() as s:
        assert store.transition_run(s, run_id, [RunStatus.QUEUED], RunStatus.RUNNING, worker_name="w")
    return run_id


@pytest.fixture
def queues() -> Iterator[list[str]]:
    """The queues a test names; each dropped afterwards with its jobs and cancel flags."""
    require_redis()
    names: list[str] = []
    yield names
    for name in names:
        drop_queue(name)
    db.dispose_engines()


def test_two_installs_on_one_redis_do_not_cancel_each_other(tmp_path, cifar_dir, monkeypatch, queues) -> None:
    queues += ["vgp-test-key-a", "vgp-test-key-b"]
    install(tmp_path, cifar_dir, monkeypatch, "a.db", queues[0])
    run_a = running_run()
    assert cancellation.cancel_run(run_a) is RunStatus.RUNNING and cancellation.cancel_requested(run_a)
    key = cancellation.cancel_key(run_a)
    assert queues[0] in key and "a.db" in key
    assert 0 < connection.get_redis().ttl(key) <= cancellation.CANCEL_FLAG_TTL_S  # it expires on its own
    install(tmp_path, cifar_dir, monkeypatch, "b.db", queues[1])
    run_b = running_run()
    assert run_b == run_a  # the same id in the other install
    assert not cancellation.cancel_requested(run_b)


def test_a_stale_flag_does_not_stop_a_later_run_of_the_same_id(tmp_path, cifar_dir, monkeypatch, queues) -> None:
    """The database made afresh (var/vgp.db removed and migrated again) hands out run 1 again."""
    queues.append("vgp-test-key-c")
    install(tmp_path, cifar_dir, monkeypatch, "vgp.db", queues[0])
    old = running_run()
    assert cancellation.cancel_run(old) is RunStatus.RUNNING
    db.dispose_engines()
    (tmp_path / "vgp.db").unlink()
    install(tmp_path, cifar_dir, monkeypatch, "vgp.db", queues[0])
    new = running_run()
    assert new == old
    assert not cancellation.cancel_requested(new)


def test_cancel_a_queued_run(redis_env: dict) -> None:
    run_id = submission.submit_run(TINY)
    assert cancellation.cancel_run(run_id) is RunStatus.CANCELLED
    assert run_row(run_id).job_id not in queue.get_queue().job_ids
    work_in_process()
    run = run_row(run_id)
    assert run.status is RunStatus.CANCELLED and run.started_at is None and run.finished_at is not None
    assert cancellation.cancel_run(run_id) is RunStatus.CANCELLED  # cancelling again changes nothing


def test_cancel_a_running_run_through_the_flag(redis_env: dict) -> None:
    run_id = submission.submit_run(RunConfig(depth=8, width=8, epochs=200, subset=64, batch_size=32, device="cpu"))
    with db.session_scope() as s:  # as if a worker had just started it
        assert store.transition_run(s, run_id, [RunStatus.QUEUED], RunStatus.RUNNING)
    assert cancellation.cancel_run(run_id) is RunStatus.RUNNING
    assert cancellation.cancel_requested(run_id)
    with db.session_scope() as s:  # hand it back to the queue so that the real job runs and sees the flag
        assert store.transition_run(s, run_id, [RunStatus.RUNNING], RunStatus.QUEUED)
    work_in_process()
    run = run_row(run_id)
    assert run.status is RunStatus.CANCELLED, run.reason
    assert run.epochs_done < 200
    assert not cancellation.cancel_requested(run_id)  # the job cleared its flag
