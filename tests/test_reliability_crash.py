"""A worker PROCESS SIGKILLed mid-run (not just its work horse), with real processes, Redis and the test database.

The run never stays `running`: its horse dies with the worker (PR_SET_PDEATHSIG), reconcile finds the stale
heartbeat and the dead job, marks it interrupted, and it resumes (automatically once, or by hand) from its
checkpoint to exactly the metrics of an uninterrupted run with the same seed. Timings are shortened (FAST).
Training uses one thread per process: two cores are shared, and equal thread counts keep the sums identical.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.cli_support import cli
from tests.reliability_support import (
    CRASH_CONFIG,
    WorkerProcess,
    assert_same_as_baseline,
    epochs_of,
    process_alive,
    run_row,
    wait_for,
)
from worker import reconcile, submission
from worker.schema import RunStatus
from worker.store import RunMeta

pytestmark = pytest.mark.slow


def start_run_and_kill_its_worker(worker: WorkerProcess) -> tuple[int, int]:
    """Submit CRASH_CONFIG, let `worker` train a few epochs, SIGKILL the worker process; return (run id, horse pid)."""
    run_id = submission.submit_run(CRASH_CONFIG, RunMeta(name="crash"))
    wait_for(lambda: run_row(run_id).epochs_done >= 3, 120, 0.02, "three epochs")
    (horse,) = worker.horses()
    assert run_row(run_id).status is RunStatus.RUNNING
    worker.kill()
    wait_for(lambda: not process_alive(horse), 10, what="the work horse to die with its worker")
    assert run_row(run_id).status is RunStatus.RUNNING  # nothing marked it yet: the worker died without a word
    return run_id, horse


def test_killed_worker_run_is_interrupted_then_resumed_by_hand(
    fast_env: dict, tmp_path: Path, baseline: tuple, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VGP_AUTO_RESUMES", "0")  # for the reconcile passes below, run in this process
    env = {**fast_env, "VGP_AUTO_RESUMES": "0"}
    first = WorkerProcess(fast_env, tmp_path / "first.log")
    try:
        run_id, _ = start_run_and_kill_its_worker(first)
    finally:
        first.stop()
    killed_at = time.monotonic()

    def reconciled() -> bool:  # what every live worker and the dashboard do every VGP_RECONCILE_INTERVAL_S
        reconcile.reconcile_quietly()
        return run_row(run_id).status is RunStatus.INTERRUPTED

    wait_for(reconciled, 60, 0.5, "the run to show interrupted")
    assert time.monotonic() - killed_at < 60
    run = run_row(run_id)
    assert "no heartbeat" in (run.reason or "") and run.auto_resumes == 0
    done_before = run.epochs_done

    resumed = cli(env, "resume", str(run_id))
    assert resumed.returncode == 0, resumed.stderr
    second = WorkerProcess(env, tmp_path / "second.log", burst=True)
    assert second.proc.wait(timeout=180) == 0, second.log()[-2000:]
    second.stop()
    assert "resumed from" in second.log() or done_before == 0  # it continued from last.pt
    assert_same_as_baseline(run_id, baseline)


def test_killed_worker_run_is_resumed_automatically_by_another_worker(
    fast_env: dict, tmp_path: Path, baseline: tuple
) -> None:
    # Both up before the run is queued: one takes it, the other stays idle (and the kill never waits on a start).
    workers = [WorkerProcess(fast_env, tmp_path / f"worker-{i}.log") for i in (1, 2)]
    try:
        names = [worker.name() for worker in workers]
        run_id = submission.submit_run(CRASH_CONFIG, RunMeta(name="crash"))
        wait_for(lambda: run_row(run_id).epochs_done >= 3, 120, 0.02, "three epochs")
        first = next(worker for worker in workers if worker.horses())
        second = workers[1 - workers.index(first)]
        (horse,) = first.horses()
        first.kill()
        wait_for(lambda: not process_alive(horse), 10, what="the work horse to die with its worker")
        # completed, not merely finished: `interrupted` (before reconcile queues it again) is finished too
        wait_for(lambda: run_row(run_id).status is RunStatus.COMPLETED, 120, 0.2, "the second worker to finish the run")
        log = second.log()
    finally:
        codes = [worker.stop() for worker in workers]
    assert codes[workers.index(second)] == 0
    run = run_row(run_id)
    assert run.auto_resumes == 1 and run.worker_name == names[workers.index(second)]
    assert f"run {run_id} interrupted: no heartbeat" in log and f"run {run_id} queued again automatically" in log
    assert "is gone; queued it again" not in log  # the fresh job was not mistaken for a lost one mid-dequeue
    assert "database is locked" not in log  # no work horse forked in the middle of reconcile's transaction
    assert_same_as_baseline(run_id, baseline)


@pytest.mark.backends("postgres")  # hosts on other machines share a database server, not a SQLite file
def test_any_host_resumes_any_run_with_no_shared_folder(fast_env: dict, tmp_path: Path, baseline: tuple) -> None:
    """Two worker "hosts" with their own checkpoint and scratch folders share only the database and Redis: the
    one training a run is SIGKILLed after epoch k; the other resumes it at epoch k + 1 from the database."""
    hosts = []
    for name in ("host-a", "host-b"):
        own = tmp_path / name
        (own / "tmp").mkdir(parents=True)
        host_env = {**fast_env, "VGP_CHECKPOINT_DIR": str(own / "checkpoints"), "TMPDIR": str(own / "tmp")}
        hosts.append(WorkerProcess(host_env, tmp_path / f"{name}.log"))
    try:
        names = [host.name() for host in hosts]
        run_id = submission.submit_run(CRASH_CONFIG, RunMeta(name="any host"))
        wait_for(lambda: run_row(run_id).epochs_done >= 3, 300, 0.02, "three epochs")  # job start: slow on a busy host
        first = next(host for host in hosts if host.horses())
        (horse,) = first.horses()
        first.kill()
        wait_for(lambda: not process_alive(horse), 10, what="the work horse to die with its worker")
        k = run_row(run_id).epochs_done
        before = epochs_of(run_id)
        assert before["epoch"].tolist() == list(range(1, k + 1))
        wait_for(lambda: run_row(run_id).status is RunStatus.COMPLETED, 300, 0.2, "the other host to finish the run")
        other = hosts[1 - hosts.index(first)]
        log = other.log()
    finally:
        codes = [host.stop() for host in hosts]
    assert codes[hosts.index(other)] == 0
    run = run_row(run_id)
    assert run.worker_name == names[hosts.index(other)] and run.auto_resumes == 1
    assert f"resumed from run {run_id}'s checkpoint in the database at epoch {k + 1}" in log
    after = epochs_of(run_id)
    assert after.iloc[:k].equals(before)  # the first k epochs' rows, wall time included, are untouched
    assert_same_as_baseline(run_id, baseline)
    assert not any((tmp_path / name / "checkpoints").exists() for name in ("host-a", "host-b"))
