"""Shared fixtures: a tiny CIFAR-100-format folder, so that a fresh clone tests without the real set, and the
database a test runs on; pytest_plugins below adds the support modules' fixtures (`env`, `redis_env`, ...).

A test that takes the `database_url` fixture (directly or through another fixture) runs twice, on a fresh SQLite
file (`[sqlite]`) and on a fresh Postgres database (`[postgres]`, VGP_TEST_POSTGRES_URL, default the local `test`
database as admin), and is marked `db`. What can differ between the two is the store's SQL, transactions, locks,
migrations and lost connections, so tests of the pages (marked `pages`: AppTest or a browser) run on SQLite
only: they reach the database through the store functions that the store's own tests run on both. So do tests
marked `backends("sqlite")` (a command line, a worker's handling of jobs, Redis), for the same reason; a
scenario that only exists with a database server (hosts on other machines) is marked `backends("postgres")`.
VGP_TEST_DATABASE=sqlite (or postgres) keeps one backend, for a quick local run.
"""

from __future__ import annotations

import os
import pickle
import signal
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest

# The support modules' fixtures, visible to every test module (their helpers are imported by name where used).
pytest_plugins = [
    "tests.env_support",
    "tests.reliability_support",
    "tests.store_support",
    "tests.run_folder_support",
    "tests.browser_helpers",
]

POSTGRES_ADMIN_URL = os.environ.get("VGP_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
BACKENDS = ("sqlite", "postgres")
ONLY_BACKEND = os.environ.get("VGP_TEST_DATABASE", "").strip().lower()


def pytest_configure(config: pytest.Config) -> None:
    if ONLY_BACKEND not in ("", *BACKENDS):
        raise pytest.UsageError(f"VGP_TEST_DATABASE must be sqlite, postgres or unset, got {ONLY_BACKEND!r}")
    config.addinivalue_line("markers", "db: uses the `database_url` fixture: runs on SQLite and on Postgres")
    config.addinivalue_line("markers", "pages: drives the dashboard's pages (AppTest or a browser): SQLite only")
    config.addinivalue_line("markers", "backends(*names): runs on these databases only (see the module's doc)")
    config.addinivalue_line("markers", "slow: takes a minute or more on a busy 2-core machine; run first")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "database_url" not in metafunc.fixturenames:
        return
    only = metafunc.definition.get_closest_marker("backends")
    backends = only.args if only else ("sqlite",) if metafunc.definition.get_closest_marker("pages") else BACKENDS
    if ONLY_BACKEND:
        backends = tuple(b for b in backends if b == ONLY_BACKEND)
    metafunc.parametrize("database_url", backends, indirect=True)


# Every process a test starts inherits this mark (os.environ), so the session can find any left running at the
# end, however it was started and whoever its parent was (an orphan is reparented to init).
SESSION_MARK = "VGP_TEST_SESSION"


def pytest_sessionstart(session: pytest.Session) -> None:
    # Under pytest-xdist each worker is a session of its own that checks its own processes; the controller
    # marks nothing, or its check would find the workers themselves.
    if not session.config.getoption("numprocesses", None):
        os.environ[SESSION_MARK] = uuid.uuid4().hex


def marked_processes(mark: str) -> list[int]:
    """Pids of live processes, other than this one, whose environment holds SESSION_MARK=mark."""
    needle = f"{SESSION_MARK}={mark}".encode()
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            environ = (entry / "environ").read_bytes()
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue  # gone, or not ours to read
        if needle in environ.split(b"\0") and state != "Z":
            pids.append(int(entry.name))
    return pids


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Fail the run if a process a test started outlived it (after a short grace); kill what is left."""
    mark = os.environ.get(SESSION_MARK)
    if not mark:
        return
    deadline = time.monotonic() + 10
    while (left := marked_processes(mark)) and time.monotonic() < deadline:
        time.sleep(0.5)
    if not left:
        return
    names = []
    for pid in left:
        try:
            command = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            names.append(f"{pid} {command[:80]}")
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
    session.config.get_terminal_writer().line(
        f"tests left {len(left)} process(es) running (now killed): " + "; ".join(names), red=True
    )
    session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "database_url" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.db)
    # The longest tests first: started last, one of them alone would keep the run going on one core at the end.
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


@contextmanager
def postgres_database() -> Iterator[str]:
    """A new, empty Postgres database, dropped afterwards (connections forced closed); skips without Postgres."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    from worker import db

    admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    name = f"vgp_test_{uuid.uuid4().hex[:10]}"
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as e:  # noqa: BLE001
        admin.dispose()
        pytest.skip(f"no Postgres at {POSTGRES_ADMIN_URL} ({type(e).__name__})")
    try:
        yield make_url(POSTGRES_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        db.dispose_engines()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database for one test (not migrated): a SQLite file, or a Postgres one (see the module's doc)."""
    if request.param == "postgres":
        with postgres_database() as url:
            yield url
    else:
        yield f"sqlite:///{tmp_path / 'vgp.db'}"


@pytest.fixture
def store_url(database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """`database_url` migrated and set as DATABASE_URL for this process."""
    from worker import db

    monkeypatch.setenv("DATABASE_URL", database_url)
    db.upgrade_database(database_url)
    yield database_url
    db.dispose_engines()


def write_cifar100(root: Path, n_train: int = 300, n_test: int = 100, seed: int = 0) -> Path:
    """Write train/test/meta pickles in the standard `cifar-100-python` layout under root; return root.

    Images are class-dependent colour blobs plus noise, so that a small net can learn something.
    """
    rng = np.random.default_rng(seed)
    folder = root / "cifar-100-python"
    folder.mkdir(parents=True, exist_ok=True)
    for name, n in (("train", n_train), ("test", n_test)):
        labels = rng.integers(0, 100, size=n)
        base = (labels[:, None] * 37 % 256).astype(np.int64)
        data = np.clip(base + rng.integers(-40, 40, size=(n, 3072)), 0, 255).astype(np.uint8)
        with open(folder / name, "wb") as f:
            pickle.dump({b"data": data, b"fine_labels": labels.tolist(), b"coarse_labels": (labels // 5).tolist()}, f)
    with open(folder / "meta", "wb") as f:
        pickle.dump({b"fine_label_names": [f"class_{i}".encode() for i in range(100)]}, f)
    return root


@pytest.fixture(scope="session")
def cifar_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A VGP_DATA_DIR holding a tiny cifar-100-python/ (300 train, 100 test images)."""
    return write_cifar100(tmp_path_factory.mktemp("data"))
