"""A network partition: two worker "hosts" in network namespaces made by the test, each with one veth link to a
Postgres and a redis-server that the test starts on the links' addresses (loopback and those addresses only).

Host A trains a run; its link is cut mid-run. Host B's reconcile marks the run interrupted after the stale-heartbeat
time and resumes it from the database. When A's link comes back, A's job cannot write a metric, a checkpoint or
a status (every write is fenced by its job id) and stops. Every epoch is recorded once, exactly as an
uninterrupted run's. Needs root and `ip netns`; skips in one line elsewhere.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.env_support import drop_queue, make_env
from tests.reliability_support import (
    CRASH_CONFIG,
    FAST,
    PrivatePostgres,
    PrivateRedis,
    WorkerProcess,
    assert_same_as_baseline,
    epochs_of,
    run_row,
    wait_for,
)
from worker import db, submission
from worker.schema import RunStatus
from worker.store import RunMeta

pytestmark = pytest.mark.slow

SUBNET = "10.213.0.0/16"
HOSTS = {"a": "10.213.1", "b": "10.213.2"}  # host X's link: X.1 on the servers' side, X.2 in its namespace


def ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=30)


@pytest.fixture
def namespaces() -> Iterator[dict[str, str]]:
    """{host: namespace name}, each linked to this (the servers') namespace by a veth pair."""
    tag = f"{os.getpid() % 10000}"
    names = {host: f"vgp{host}{tag}" for host in HOSTS}
    made = []
    try:
        for host, net in HOSTS.items():
            ns, outside, inside = names[host], f"vgp{host}{tag}o", f"vgp{host}{tag}i"
            ip("netns", "add", ns)
            made.append(ns)
            ip("link", "add", outside, "type", "veth", "peer", "name", inside)
            ip("link", "set", inside, "netns", ns)
            ip("addr", "add", f"{net}.1/24", "dev", outside)
            ip("link", "set", outside, "up")
            for args in (("addr", "add", f"{net}.2/24", "dev", inside), ("link", "set", inside, "up"),
                         ("link", "set", "lo", "up")):  # fmt: skip
                ip("netns", "exec", ns, "ip", *args)
    except (OSError, subprocess.CalledProcessError) as e:
        for ns in made:
            subprocess.run(["ip", "netns", "del", ns], capture_output=True, check=False)
        pytest.skip(f"cannot make network namespaces here ({type(e).__name__}); the partition test needs root")
    yield names
    for ns in made:  # deleting a namespace deletes its veth end, and so the pair
        subprocess.run(["ip", "netns", "del", ns], capture_output=True, check=False)


def test_a_partitioned_host_is_written_off_and_fenced(
    namespaces: dict[str, str], tmp_path: Path, cifar_dir: Path, baseline: tuple, monkeypatch: pytest.MonkeyPatch
) -> None:
    links = tuple(f"{net}.1" for net in HOSTS.values())
    postgres = PrivatePostgres(listen=("127.0.0.1", *links), trusted_subnet=SUBNET).start()
    redis = PrivateRedis(tmp_path, password="p4rtition", bind=("127.0.0.1", *links)).start()  # protected mode
    env = {**make_env(tmp_path, cifar_dir, postgres.url, redis.url), **FAST, "OMP_NUM_THREADS": "1"}
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    db.upgrade_database(postgres.url)
    hosts: dict[str, WorkerProcess] = {}
    outside_a = f"{namespaces['a']}o"

    def start(host: str) -> WorkerProcess:
        address = f"{HOSTS[host]}.1"
        host_env = {**env, "DATABASE_URL": postgres.url_at(address), "REDIS_URL": redis.url_at(address),
                    "VGP_CHECKPOINT_DIR": str(tmp_path / host / "checkpoints")}  # fmt: skip
        netns = ("ip", "netns", "exec", namespaces[host])
        hosts[host] = WorkerProcess(host_env, tmp_path / f"{host}.log", prefix=netns)
        hosts[host].name()
        return hosts[host]

    try:
        a_name = start("a").name()
        run_id = submission.submit_run(CRASH_CONFIG, RunMeta(name="partition"))
        wait_for(lambda: run_row(run_id).status is RunStatus.RUNNING, 240, 0.05, "host A to take the run")
        b_name = start("b").name()  # while A starts training: the cut below never waits on B's start
        wait_for(lambda: run_row(run_id).epochs_done >= 3, 240, 0.02, "three epochs on host A")
        ip("link", "set", outside_a, "down")  # the cut: A's packets go nowhere, nothing is refused
        # What A recorded, read once a write it sent before the cut has landed and before B can take over (only
        # after VGP_STALE_AFTER_S without a heartbeat): read after the takeover, it could hold B's first epoch.
        time.sleep(0.5)
        before = epochs_of(run_id)
        k = len(before)  # B continues at k + 1
        at_cut = run_row(run_id)  # read after the epochs: still A's run, so they are all A's
        assert at_cut.worker_name == a_name and at_cut.epochs_done == k >= 3
        assert before["epoch"].tolist() == list(range(1, k + 1))
        wait_for(lambda: run_row(run_id).worker_name == b_name, 240, 0.2, "host B to take the run over")
        ip("link", "set", outside_a, "up")
        wait_for(lambda: not hosts["a"].horses(), 240, 0.5, "host A's job to stop once its link is back")
        wait_for(lambda: run_row(run_id).status is RunStatus.COMPLETED, 240, 0.2, "host B to finish the run")
        logs = {host: worker.log() for host, worker in hosts.items()}
        final, after = run_row(run_id), epochs_of(run_id)
        assert_same_as_baseline(run_id, baseline)  # every epoch once (primary key), all equal to an uninterrupted run
    finally:
        for worker in hosts.values():
            worker.stop()
        drop_queue(env["VGP_QUEUE"], redis.url)
        redis.stop()
        db.dispose_engines()
        postgres.remove()

    assert final.worker_name == b_name and final.auto_resumes == 1
    assert after.iloc[:k].equals(before)  # A's epochs stand as written; nothing of A's came after the cut
    assert f"run {run_id} interrupted: no heartbeat" in logs["b"]
    assert f"resumed from run {run_id}'s checkpoint in the database at epoch {k + 1}" in logs["b"]
    fenced = (f"run {run_id} is no longer running under job", f"run {run_id} was taken over by another job")
    assert any(line in logs["a"] for line in fenced), logs["a"][-3000:]
    assert "Traceback" not in logs["b"]
    # On A, RQ itself may log one traceback: its work horse records the superseded job's end over a Redis
    # connection that the cut broke. Nothing of ours raised: the job had returned "superseded".
    assert f"run {run_id} crashed" not in logs["a"] and f"run {run_id} failed" not in logs["a"]
