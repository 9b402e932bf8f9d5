"""What per-step curves cost a 100-epoch run: rows and bytes on SQLite and Postgres, write time, and the Run page.

Two runs per backend, each 100 epochs of VGG38 BN+RC's real write (1 epoch row + 75 gradient rows an epoch, through
`worker.store.record_epoch`): the baseline without steps, and the same with 50 step points an epoch, written as a
job writes them: live, about 5 points per `record_steps` call (the progress writer, every 2 s), then once more with
the epoch (idempotent). Prints, per backend:

  rows and bytes  of the steps table against the epochs and gradients tables (SQLite: the file's growth after
                  VACUUM, two separate files; Postgres: pg_total_relation_size, indexes included)
  write           median ms of one live write of 5 points, and of an epoch's write with and without its 50 steps
  draw            the Run page (Streamlit AppTest, the whole script) of the run with 5,000 points against the same
                  run's page without them, and the per-step chart alone (read + build + to_dict); target under 1 s

  .venv/bin/python bench/steps_storage.py [--epochs 100] [--points 50] [--postgres URL]
"""

from __future__ import annotations

import argparse
import logging
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]
from common import fresh_postgres, header, postgres_option  # noqa: E402
from sqlalchemy import create_engine, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from dashboard import charts  # noqa: E402
from vgp_models.config import RunConfig  # noqa: E402
from vgp_models.gradstats import weight_labels  # noqa: E402
from vgp_models.metrics import EpochMetrics, LayerGrad, StepPoint  # noqa: E402
from vgp_models.nets import network  # noqa: E402
from worker import db, frames, store  # noqa: E402

LIVE_POINTS = 5  # points per live write: 50 an epoch, written every 2 s of a minutes-long CPU epoch
REPEATS = 5


def epoch_metrics(epoch: int, epochs: int, labels: list[str], points: int, rng: random.Random) -> EpochMetrics:
    grads = [LayerGrad(i, label, rng.uniform(1e-5, 1e-2), rng.uniform(1e-5, 1e-2), rng.uniform(1e-3, 1),
                       rng.uniform(1, 10), rng.uniform(1e-4, 1e-1)) for i, label in enumerate(labels)]  # fmt: skip
    every = 450 // points  # VGG38's 450 steps an epoch at batch 100
    steps = [StepPoint((epoch - 1) * 450 + k * every, epoch, rng.uniform(1, 4.6), 1e-3, epoch * 90.0 + k)
             for k in range(1, points + 1)]  # fmt: skip
    return EpochMetrics(epoch, epochs, rng.uniform(1, 4), rng.random(), rng.uniform(1, 4), rng.random(), 1e-3, 90.0,
                        grads, steps=steps)  # fmt: skip


def write_run(url: str, config: RunConfig, labels: list[str], points: int, with_steps: bool) -> tuple[int, dict]:
    """A completed run of config.epochs epochs; ms of its live step writes and epoch writes."""
    with db.session_scope(url) as session:
        run_id = store.create_run(session, config, store.RunMeta(name="steps bench")).id
    rng, times = random.Random(0), {"live": [], "epoch": []}
    for epoch in range(1, config.epochs + 1):
        metrics = epoch_metrics(epoch, config.epochs, labels, points, rng)
        if not with_steps:
            metrics.steps = []
        for start in range(0, len(metrics.steps), LIVE_POINTS):
            t0 = time.perf_counter()
            with db.session_scope(url) as session:
                store.record_steps(session, run_id, metrics.steps[start : start + LIVE_POINTS])
            times["live"].append((time.perf_counter() - t0) * 1000)
        t0 = time.perf_counter()
        with db.session_scope(url) as session:
            store.record_epoch(session, run_id, metrics)
        times["epoch"].append((time.perf_counter() - t0) * 1000)
    with db.session_scope(url) as session:
        store.set_status(session, run_id, "completed")
    return run_id, times


def sqlite_bytes(url: str) -> int:
    """The database file's size, vacuumed and with its WAL checkpointed into it."""
    db.dispose_engines()
    engine = create_engine(url)
    with engine.connect() as conn:
        conn.execute(text("VACUUM"))
        conn.execute(text("PRAGMA wal_checkpoint(TRUNCATE)"))
    engine.dispose()
    return Path(make_url(url).database).stat().st_size


def postgres_bytes(url: str, tables: tuple[str, ...]) -> dict[str, int]:
    with db.read_scope(url) as session:
        return {t: int(session.execute(text(f"SELECT pg_total_relation_size('{t}')")).scalar()) for t in tables}


def row_counts(url: str, run_id: int) -> dict[str, int]:
    with db.read_scope(url) as session:
        return {name: int(session.execute(text(f"SELECT count(*) FROM {name} WHERE run_id = {run_id}")).scalar())
                for name in ("epochs", "gradients", "steps")}  # fmt: skip


def page_seconds(url: str, run_id: int) -> float:
    """Median seconds of the Run page's whole script for `run_id` (AppTest), after one warm-up run."""
    from streamlit.testing.v1 import AppTest

    os.environ["DATABASE_URL"] = url
    at = AppTest.from_file(str(ROOT / "dashboard" / "app.py"), default_timeout=120).run()
    at.query_params["run"] = str(run_id)
    at.switch_page("views/run.py").run()
    assert not at.exception, at.exception
    times = []
    for _ in range(REPEATS):
        t0 = time.perf_counter()
        at.run()
        times.append(time.perf_counter() - t0)
    assert not at.exception, at.exception
    return statistics.median(times)


def chart_seconds(url: str, run_id: int) -> float:
    times = []
    for _ in range(REPEATS):
        t0 = time.perf_counter()
        with db.read_scope(url) as session:
            steps = frames.steps_frame(session, [run_id])
        charts.step_chart(steps, "epoch", 0.6).to_dict()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def measure(backend: str, url: str, config: RunConfig, labels: list[str], points: int) -> None:
    db.upgrade_database(url)
    sizes = [sqlite_bytes(url)] if backend == "sqlite" else []  # the file: empty, + baseline run, + run with steps
    base_id, base_times = write_run(url, config, labels, points, with_steps=False)
    sizes += [sqlite_bytes(url)] if backend == "sqlite" else []
    steps_id, steps_times = write_run(url, config, labels, points, with_steps=True)
    rows = row_counts(url, steps_id)
    print(f"{backend}: rows of one run: {rows['epochs']} epochs, {rows['gradients']} gradients, {rows['steps']} steps")
    if backend == "sqlite":
        sizes.append(sqlite_bytes(url))
        without, with_steps = sizes[1] - sizes[0], sizes[2] - sizes[1]
        print(f"{backend}: file growth (vacuumed) of the run without steps {without / 1e6:.2f} MB, with them "
              f"{with_steps / 1e6:.2f} MB: steps {(with_steps - without) / 1e6:.2f} MB, "
              f"{(with_steps - without) / rows['steps']:.0f} B a row")  # fmt: skip
    else:
        table = postgres_bytes(url, ("epochs", "gradients", "steps"))
        print(f"{backend}: table + index bytes (2 runs' epochs and gradients, 1 run's steps): "
              + ", ".join(f"{t} {b / 1e6:.2f} MB" for t, b in table.items())
              + f"; steps {table['steps'] / rows['steps']:.0f} B a row")  # fmt: skip
    live = statistics.median(steps_times["live"])
    epoch_with, epoch_without = statistics.median(steps_times["epoch"]), statistics.median(base_times["epoch"])
    print(f"{backend}: live write of {LIVE_POINTS} points median {live:.2f} ms; epoch write with its {points} steps "
          f"{epoch_with:.2f} ms vs without {epoch_without:.2f} ms ({epoch_with / epoch_without:.2f}x)")  # fmt: skip
    chart = chart_seconds(url, steps_id)
    with_page, without_page = page_seconds(url, steps_id), page_seconds(url, base_id)
    print(f"{backend}: per-step chart alone (read {rows['steps']} rows + build + to_dict) {chart * 1000:.0f} ms; "
          f"Run page {with_page:.2f} s with them vs {without_page:.2f} s without "
          f"({with_page / without_page:.2f}x)", flush=True)  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--points", type=int, default=50, help="step points per epoch (default 50, the default)")
    postgres_option(parser, "postgresql+psycopg://postgres@127.0.0.1:5432/test")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    header("steps_storage.py")
    config = RunConfig.from_preset("vgg38-bn-rc", epochs=args.epochs, device="cpu")
    labels = weight_labels(network(config))
    print(f"# {config.label}, {args.epochs} epochs x ({len(labels)} gradient rows + {args.points} step points); "
          f"medians of {REPEATS} page draws", flush=True)  # fmt: skip
    with fresh_postgres(args.postgres) as (pg_url, _), tempfile.TemporaryDirectory() as tmp:
        measure("sqlite", f"sqlite:///{tmp}/vgp.db", config, labels, args.points)
        measure("postgres", pg_url, config, labels, args.points)


if __name__ == "__main__":
    main()
