"""Two worker processes (as on two GPUs: CUDA_VISIBLE_DEVICES=0 and 1) share one Postgres and one queue.

Four runs: each is trained exactly once, by one of the two, with all its epochs and metrics; both take work.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from rq import Worker

from tests.conftest import postgres_database
from tests.env_support import product_env, require_redis
from tests.reliability_support import WorkerProcess, epochs_of, run_row, wait_for
from tests.run_support import tiny
from worker import queue, submission
from worker.schema import RunStatus
from worker.store import RunMeta

pytestmark = pytest.mark.slow

RUNS = 4
EPOCHS = 12  # ~0.5 s of training each, so that the second worker is free before the queue is empty


@pytest.fixture
def env(tmp_path: Path, cifar_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict]:
    require_redis()
    with postgres_database() as url:  # always Postgres: this is the multi-host setup of docs/deploy.md
        with product_env(tmp_path, cifar_dir, url, monkeypatch, OMP_NUM_THREADS="1") as variables:
            yield variables


def test_two_workers_share_four_runs_each_trained_once(env: dict, tmp_path: Path) -> None:
    workers = [
        WorkerProcess(env, tmp_path / f"gpu{gpu}.log", CUDA_VISIBLE_DEVICES=str(gpu)) for gpu in (0, 1)
    ]  # fmt: skip
    try:
        names = [w.name() for w in workers]  # both listening before the first run arrives
        assert all(f"-gpu{gpu}-" in name for gpu, name in enumerate(names))
        wait_for(lambda: Worker.count(queue=queue.get_queue()) == 2, 30, what="both workers to register")
        run_ids = [submission.submit_run(tiny(EPOCHS, seed=i), RunMeta(name=f"multi-{i}")) for i in range(RUNS)]
        wait_for(lambda: all(run_row(r).status.finished for r in run_ids), 240, 0.2, "all four runs to finish")
        logs = [w.log() for w in workers]
    finally:
        codes = [w.stop() for w in workers]
    assert codes == [0, 0]  # warm shutdown (SIGTERM) of idle workers

    assert not any("Traceback" in log for log in logs), logs
    started = {r: [] for r in run_ids}
    for name, log in zip(names, logs, strict=True):
        assert "CUDA_VISIBLE_DEVICES=" + name.split("-gpu")[1][0] in log
        for match in re.finditer(r"run (\d+) started on (\S+):", log):
            started[int(match.group(1))].append(match.group(2))
    assert all(len(by) == 1 for by in started.values()), started  # each run trained exactly once
    for run_id in run_ids:
        run = run_row(run_id)
        assert run.status is RunStatus.COMPLETED, run.reason
        assert run.worker_name in names and started[run_id] == [run.worker_name]
        assert run.started_at is not None and run.auto_resumes == 0
        assert run.test_acc is not None and run.best_val_acc is not None and run.device == "cpu"
        frame = epochs_of(run_id)
        assert frame["epoch"].tolist() == list(range(1, EPOCHS + 1))
        assert frame[["train_loss", "train_acc", "val_loss", "val_acc", "lr"]].notna().all().all()
    by_worker = {name: sum(run_row(r).worker_name == name for r in run_ids) for name in names}
    assert sum(by_worker.values()) == RUNS
    # Both take work: each blocks on the queue before the runs arrive, and Redis hands queued jobs to waiting
    # workers in turn. (If this ever flakes on a starved machine, the properties above still hold.)
    assert all(count >= 1 for count in by_worker.values()), by_worker
