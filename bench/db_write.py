"""The database write per epoch, SQLite vs Postgres: one `worker.store.record_epoch` in its own transaction.

What the job's on_epoch does once per epoch: `with db.session_scope() as s: store.record_epoch(s, run_id, m)`,
i.e. delete any earlier copy of the epoch, insert the epoch row and one gradient row per weight tensor (75 for
VGG38 BN+RC), advance the run's epochs_done/best/heartbeat, commit. Both databases are fresh and migrated
with Alembic (`db.upgrade_database`): a SQLite file in a temporary folder (WAL, as the product), and a
Postgres database created for the run and dropped after it. Writes alternate between the two, epoch by epoch,
so that load from other processes falls on both alike; the first WARMUP writes of each (connecting) are not
counted. Prints the median and 90th percentile per backend, and the ratio Postgres / SQLite.

  .venv/bin/python bench/db_write.py                       # 100 epochs, VGG38 BN+RC (75 gradient rows)
  .venv/bin/python bench/db_write.py --postgres postgresql+psycopg://postgres@127.0.0.1:5432/postgres
"""

from __future__ import annotations

import argparse
import logging
import random
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]
from common import header  # noqa: E402
from sqlalchemy import create_engine, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from vgp_models.config import RunConfig  # noqa: E402
from vgp_models.gradstats import weight_labels  # noqa: E402
from vgp_models.train import EpochMetrics, LayerGrad  # noqa: E402
from vgp_models.vgg import VGG  # noqa: E402
from worker import db, frames, store  # noqa: E402

WARMUP = 3


def fake_epoch(epoch: int, epochs: int, labels: list[str], rng: random.Random) -> EpochMetrics:
    grads = [LayerGrad(i, label, rng.uniform(1e-5, 1e-2), rng.uniform(1e-5, 1e-2), rng.uniform(1e-3, 1))
             for i, label in enumerate(labels)]  # fmt: skip
    return EpochMetrics(epoch, epochs, rng.uniform(1, 4), rng.random(), rng.uniform(1, 4), rng.random(),
                        1e-3, 1.5, grads)  # fmt: skip


def new_run(url: str, config: RunConfig) -> int:
    db.upgrade_database(url)
    with db.session_scope(url) as session:
        return store.create_run(session, config, name="db_write bench").id


def write_ms(url: str, run_id: int, metrics: EpochMetrics) -> float:
    t0 = time.perf_counter()
    with db.session_scope(url) as session:  # one transaction per epoch, as worker.jobs
        store.record_epoch(session, run_id, metrics)
    return (time.perf_counter() - t0) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--preset", default="vgg38-bn-rc")
    parser.add_argument("--epochs", type=int, default=100, help="epoch writes per backend")
    parser.add_argument("--postgres", default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres",
                        help="a Postgres URL whose user may CREATE DATABASE; a fresh database is made and dropped")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)

    header("db_write.py")
    config = RunConfig.from_preset(args.preset, epochs=args.epochs)
    labels = weight_labels(VGG(config))
    print(f"# {config.label}: per epoch 1 epoch row + {len(labels)} gradient rows; {args.epochs} epochs per "
          f"backend, alternating; first {WARMUP} of each not counted")

    admin = create_engine(args.postgres, isolation_level="AUTOCOMMIT")
    pg_name = f"vgp_bench_{uuid.uuid4().hex[:10]}"
    with admin.connect() as conn:
        server = conn.execute(text("SHOW server_version")).scalar()
        conn.execute(text(f'CREATE DATABASE "{pg_name}"'))
    pg_url = make_url(args.postgres).set(database=pg_name).render_as_string(hide_password=False)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            urls = {"sqlite": f"sqlite:///{tmp}/vgp.db", "postgres": pg_url}
            print(f"# sqlite: a file in {tmp} (WAL); postgres {server}: {make_url(pg_url).render_as_string()}",
                  flush=True)  # fmt: skip
            runs = {name: new_run(url, config) for name, url in urls.items()}
            times: dict[str, list[float]] = {name: [] for name in urls}
            rng = random.Random(0)
            for epoch in range(1, args.epochs + 1):
                metrics = fake_epoch(epoch, args.epochs, labels, rng)
                order = list(urls) if epoch % 2 else list(reversed(urls))
                for name in order:
                    times[name].append(write_ms(urls[name], runs[name], metrics))
            for name, url in urls.items():  # what was written is what a run would have
                with db.read_scope(url) as session:
                    assert len(frames.gradients_frame(session, [runs[name]])) == args.epochs * len(labels)
    finally:
        db.dispose_engines()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{pg_name}" WITH (FORCE)'))
        admin.dispose()

    medians = {}
    for name, values in times.items():
        counted = sorted(values[WARMUP:])
        medians[name] = statistics.median(counted)
        p90 = counted[int(0.9 * (len(counted) - 1))]
        print(f"{name:<9} median {medians[name]:7.2f} ms per epoch write   p90 {p90:7.2f} ms   "
              f"first write {values[0]:7.2f} ms")
    print(f"ratio postgres / sqlite (medians): {medians['postgres'] / medians['sqlite']:.2f}x")


if __name__ == "__main__":
    main()
