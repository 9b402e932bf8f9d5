"""The cancel flag on a shared Redis: two installs (other queue, other database) never cancel each other's runs,
and a flag left behind never stops a later run that got the same id; every flag expires."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.reliability_support import REDIS_URL, drop_queue, make_env, tiny
from worker import cancellation, connection, db, store
from worker.schema import RunStatus


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
    if not connection.redis_available(REDIS_URL):
        pytest.skip(f"no Redis at {REDIS_URL}")
    names: list[str] = []
    yield names
    for name in names:
        drop_queue(name)
    redis = connection.get_redis(REDIS_URL)
    for name in names:
        flags = cancellation.CANCEL_KEY.format(queue=name, database="*", run_id="*", run_uuid="*")
        for key in redis.scan_iter(match=flags):
            redis.delete(key)
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
