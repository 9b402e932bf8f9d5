"""Shared by the worker's tests (test_jobs, test_queue, test_runner, test_reconcile, ...) and the
tests/test_reliability_*.py scenarios: the FAST environment of worker processes, runs staged in the store, real
worker processes, and Redis and Postgres servers of a test's own, to stop and start at will."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from sqlalchemy import update

from tests.env_support import REPO, free_port, product_env, require_redis
from tests.run_support import tiny
from vgp_models.config import RunConfig
from worker import connection, db, frames, runner, store
from worker.schema import Run, RunStatus, utcnow

if TYPE_CHECKING:
    from vgp_models.metrics import EpochMetrics

FAST = {
    "VGP_HEARTBEAT_S": "1",
    "VGP_STALE_AFTER_S": "3",
    "VGP_RECONCILE_INTERVAL_S": "1",
    "VGP_CANCEL_GRACE_S": "1",
}
"""Reliability timings shortened so that a dead worker is found in seconds, not a minute."""


@pytest.fixture
def fast_env(tmp_path: Path, cifar_dir: Path, database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict]:
    """`env` with FAST timings and one CPU thread (two cores are shared), for the worker processes a test starts;
    skips without Redis."""
    require_redis()
    fast = {**FAST, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    with product_env(tmp_path, cifar_dir, database_url, monkeypatch, **fast) as variables:
        yield variables


def wait_for(predicate: Callable[[], Any], timeout: float, interval: float = 0.1, what: str = "condition") -> Any:
    """Poll until `predicate()` is truthy; return its value, or fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(interval)


def run_row(run_id: int, url: str | None = None) -> Run:
    with db.session_scope(url) as s:
        return store.require_run(s, run_id)


def running_run(heartbeat_age_s: float = 60, job_id: str | None = "gone") -> int:
    """A run marked running by job `job_id` whose last heartbeat is `heartbeat_age_s` old."""
    with db.session_scope() as s:
        run_id = store.create_run(s, tiny()).id
        s.get(Run, run_id).job_id = job_id
    with db.session_scope() as s:
        assert store.transition_run(s, run_id, [RunStatus.QUEUED], RunStatus.RUNNING, worker_name="w")
    with db.session_scope() as s:
        old = utcnow() - timedelta(seconds=heartbeat_age_s)
        s.execute(update(Run).where(Run.id == run_id).values(heartbeat_at=old))
    return run_id


def epochs_of(run_id: int, url: str | None = None):  # -> pd.DataFrame
    with db.session_scope(url) as s:
        return frames.epochs_frame(s, [run_id])


def train_on_one_thread(config: RunConfig, data_dir: Path) -> tuple[list, Any]:
    """`config` trained without interruption or checkpoints, in this process, on one thread (as the tests' worker
    processes train): ([EpochMetrics, ...], TrainResult), the baseline a resumed run must equal exactly."""
    import torch

    from vgp_models.train import train

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        seen: list = []
        return seen, train(config, data_dir=data_dir, on_epoch=seen.append)
    finally:
        torch.set_num_threads(threads)


def work_in_process() -> None:
    """Run every queued job in this process (SimpleWorker), on one thread (two cores are shared)."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        runner.make_worker(burst_in_process=True).work(burst=True)
    finally:
        torch.set_num_threads(threads)


class WorkerProcess:
    """`python -m worker worker` in a subprocess with its own log file; stopped (and reaped) by `stop()`."""

    def __init__(
        self,
        env: dict,
        log_path: Path,
        burst: bool = False,
        prefix: tuple[str, ...] = (),
        **extra_env: str,
    ) -> None:
        """`prefix`: a command that runs the worker, e.g. ("ip", "netns", "exec", NAME) (it must exec, not fork)."""
        self.log_path = log_path
        args = [*prefix, sys.executable, "-m", "worker", "worker", *(["--burst"] if burst else [])]
        self._log = open(log_path, "w")  # noqa: SIM115 (closed in stop)
        self.proc = subprocess.Popen(
            args, cwd=REPO, env={**os.environ, **env, **extra_env}, stdout=self._log, stderr=subprocess.STDOUT
        )

    @property
    def pid(self) -> int:
        return self.proc.pid

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def name(self, timeout: float = 60) -> str:
        """The RQ worker name, from the start line in the log."""

        def find() -> str | None:
            for line in self.log().splitlines():
                if " worker " in line and " on queue " in line:
                    return line.split(" worker ", 1)[1].split(" ", 1)[0]
            return None

        return wait_for(find, timeout, what=f"worker {self.pid} to start")

    def horses(self) -> list[int]:
        try:
            return [int(p) for p in Path(f"/proc/{self.pid}/task/{self.pid}/children").read_text().split()]
        except OSError:
            return []

    def kill(self) -> None:
        """SIGKILL the worker process itself (not its work horse): no handler, no cleanup, as on a crash."""
        os.kill(self.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self, timeout: float = 30) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)  # warm shutdown
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()
        return self.proc.returncode


# ---- an interruptible run and its uninterrupted reference (the crash and partition scenarios) ----------

CRASH_EPOCHS = 40  # 0.1-0.3 s each in a worker on a busy machine: a kill after epoch 3 lands mid-run
CRASH_CONFIG = tiny(CRASH_EPOCHS, seed=3)
CRASH_METRICS = ["epoch", "train_loss", "train_acc", "val_loss", "val_acc", "lr"]  # all but wall time


@pytest.fixture(scope="module")
def baseline(cifar_dir: Path) -> tuple[list[EpochMetrics], object]:
    """The same config trained without interruption, in this process, on one thread."""
    seen, result = train_on_one_thread(CRASH_CONFIG, cifar_dir)
    assert result.status == "completed" and len(seen) == CRASH_EPOCHS
    return seen, result


def assert_same_as_baseline(run_id: int, baseline: tuple[list[EpochMetrics], object]) -> None:
    seen, result = baseline
    run = run_row(run_id)
    assert run.status is RunStatus.COMPLETED, run.reason
    frame = epochs_of(run_id)
    assert frame["epoch"].tolist() == list(range(1, CRASH_EPOCHS + 1))  # none lost, none twice (primary key)
    expected = [[getattr(m, c) for c in CRASH_METRICS] for m in seen]
    assert frame[CRASH_METRICS].values.tolist() == expected  # exactly: per-epoch seeded RNG, one thread
    assert (run.test_loss, run.test_acc) == (result.test_loss, result.test_acc)
    assert (run.best_epoch, run.best_val_acc) == (result.best_epoch, result.best_val_acc)


def process_alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    except OSError:
        return False
    return state != "Z"


class PrivateRedis:
    """A redis-server of our own on a free port (no persistence), to flush, stop and restart at will."""

    def __init__(self, tmp_path: Path, password: str | None = None, bind: tuple[str, ...] = ("127.0.0.1",)) -> None:
        self.port = free_port()
        self.dir = tmp_path
        self.password = password
        self.bind = bind
        self.url = self.url_at(bind[0])
        self.proc: subprocess.Popen | None = None

    def url_at(self, address: str) -> str:
        auth = f":{self.password}@" if self.password else ""
        return f"redis://{auth}{address}:{self.port}/0"

    def start(self) -> PrivateRedis:
        args = ["redis-server", "--port", str(self.port), "--bind", " ".join(self.bind), "--save", "",
                "--appendonly", "no", "--dir", str(self.dir)]  # fmt: skip
        if self.password:
            args += ["--requirepass", self.password]
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for(lambda: connection.redis_available(self.url), 10, what=f"redis-server on port {self.port}")
        return self

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.proc = None


def postgres_bin() -> Path | None:
    """The folder holding Debian's initdb and pg_ctl (/usr/lib/postgresql/<version>/bin), or None."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"))
    return found[-1].parent if found else None


class PrivatePostgres:
    """A Postgres server of our own (initdb into a temporary folder, trust auth, its own port), to stop and start
    at will. As root, the server runs as the `postgres` user (Postgres refuses root). Skips where none is installed.
    """

    def __init__(self, listen: tuple[str, ...] = ("127.0.0.1",), trusted_subnet: str | None = None) -> None:
        self.bin = postgres_bin()
        if self.bin is None:
            pytest.skip("no initdb/pg_ctl under /usr/lib/postgresql/*/bin")
        self.listen, self.port = listen, free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="vgp-pg-"))
        self.data = self.dir / "data"
        self.url = self.url_at(listen[0])
        self._as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        if self._as_user:
            shutil.chown(self.dir, "postgres")
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "--no-sync")
        if trusted_subnet:  # initdb trusts loopback only
            with open(self.data / "pg_hba.conf", "a") as f:
                f.write(f"host all all {trusted_subnet} trust\n")

    def url_at(self, address: str) -> str:
        return f"postgresql+psycopg://postgres@{address}:{self.port}/postgres"

    def _run(self, tool: str, *args: str) -> None:
        subprocess.run([*self._as_user, str(self.bin / tool), *args], check=True, capture_output=True, timeout=120)

    def start(self) -> PrivatePostgres:
        options = f"-p {self.port} -k {self.dir} -c listen_addresses={','.join(self.listen)} -c fsync=off"
        self._run("pg_ctl", "-D", str(self.data), "-o", options, "-l", str(self.dir / "log"), "-w", "start")
        return self

    def stop(self) -> None:
        """A fast shutdown: open connections are cut, as in a crash or a restart."""
        if (self.data / "postmaster.pid").exists():
            self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


# ---- a callback someone with write access to Redis might name (test_queue) ------------------------------


def planted_callback(job: Any, connection: Any, *exc_info: Any) -> None:
    """Stands for a callback someone with write access to Redis names in a job: records that it was called."""
    Path(os.environ["VGP_TEST_PLANTED_MARKER"]).write_text(job.id)
