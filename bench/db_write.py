"""What an epoch's write costs: metrics alone, today's file checkpoint, and the database checkpoint store.

Per epoch and backend (SQLite file in WAL, as the product, and a fresh Postgres database), three ways:

  metrics  `worker.store.record_epoch` in its own transaction (1 epoch row + 75 gradient rows for VGG38 BN+RC)
  files    VGP_CHECKPOINT_STORE=files: that transaction, then `last.pt` written to a local folder (write + rename)
  db       VGP_CHECKPOINT_STORE=db: `worker.checkpoints.DbCheckpoints.save`, i.e. the same rows and the `last`
           checkpoint's bytes (model, Adam state, schedule, best model) in ONE job-fenced transaction

The checkpoint is the real one of VGG38 BN+RC after one optimiser step (`train()`'s `last` dict). The ways and
backends alternate epoch by epoch, so that load from other processes falls on all alike; the first WARMUP
writes of each (connecting) are not counted. Prints the median and 90th percentile of each, and the ratios.

  .venv/bin/python bench/db_write.py                       # 30 epochs each, VGG38 BN+RC
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
import torch  # noqa: E402
from common import fresh_postgres, header, postgres_option  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from vgp_models.checkpoints import FileCheckpoints, to_bytes  # noqa: E402
from vgp_models.config import RunConfig  # noqa: E402
from vgp_models.gradstats import weight_labels  # noqa: E402
from vgp_models.metrics import EpochMetrics, LayerGrad
from vgp_models.train import build_model, make_optimizer, model_input, train_step  # noqa: E402
from worker import db, frames, store  # noqa: E402
from worker.checkpoints import DbCheckpoints  # noqa: E402
from worker.schema import RunStatus  # noqa: E402

WARMUP = 3
JOB = "bench-job"
WAYS = ("metrics", "files", "db")


def fake_epoch(epoch: int, epochs: int, labels: list[str], rng: random.Random) -> EpochMetrics:
    grads = [LayerGrad(i, label, rng.uniform(1e-5, 1e-2), rng.uniform(1e-5, 1e-2), rng.uniform(1e-3, 1))
             for i, label in enumerate(labels)]  # fmt: skip
    return EpochMetrics(epoch, epochs, rng.uniform(1, 4), rng.random(), rng.uniform(1, 4), rng.random(),
                        1e-3, 1.5, grads)  # fmt: skip


def last_state(config: RunConfig) -> dict:
    """train()'s `last` checkpoint for `config` after one step (so that Adam's moments exist)."""
    model = build_model(config)
    optimizer, scheduler = make_optimizer(model, config)
    images = torch.randint(0, 256, (8, 3, 32, 32), dtype=torch.uint8)
    train_step(model, optimizer, model_input(images, config), torch.randint(0, 100, (8,)), config, torch.device("cpu"))
    return {"model": model.state_dict(), "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
            "epoch": 1, "best_epoch": 1, "best_val_acc": 0.1, "best_model": model.state_dict(), "epochs_since_gain": 0,
            "config": config.to_dict(), "run_uuid": str(uuid.uuid4())}  # fmt: skip


def new_run(url: str, config: RunConfig) -> tuple[int, str]:
    """A run that JOB is training, so that the fenced writes find it (id, uuid)."""
    with db.session_scope(url) as session:
        run = store.create_run(session, config, store.RunMeta(name="db_write bench"))
        run.job_id = JOB
        store.set_status(session, run.id, RunStatus.RUNNING)
        return run.id, run.uuid


def writer(way: str, url: str, run_id: int, run_uuid: str, folder: Path, state: dict):
    """The per-epoch write of `way`, as a function of the epoch's metrics."""

    def metrics_only(metrics: EpochMetrics) -> None:
        with db.session_scope(url) as session:  # one transaction per epoch, as worker.jobs
            store.record_epoch(session, run_id, metrics, job_id=JOB)

    def files(metrics: EpochMetrics) -> None:
        metrics_only(metrics)
        FileCheckpoints(folder).save(metrics, state, None)

    db_store = DbCheckpoints(run_id, run_uuid, JOB, url=url)
    return {"metrics": metrics_only, "files": files, "db": lambda m: db_store.save(m, state, None)}[way]


def measure(urls: dict[str, str], config: RunConfig, epochs: int, tmp: Path) -> dict[tuple[str, str], list[float]]:
    labels = weight_labels(build_model(config))
    state = last_state(config)
    writers, runs = {}, {}
    for backend, url in urls.items():
        db.upgrade_database(url)
        for way in WAYS:
            run_id, run_uuid = runs[backend, way] = new_run(url, config)
            writers[backend, way] = writer(way, url, run_id, run_uuid, tmp / f"{backend}-{way}", state)
    times: dict[tuple[str, str], list[float]] = {key: [] for key in writers}
    rng = random.Random(0)
    keys = list(writers)
    for epoch in range(1, epochs + 1):
        metrics = fake_epoch(epoch, epochs, labels, rng)
        for key in keys[epoch % len(keys) :] + keys[: epoch % len(keys)]:  # rotate the order every epoch
            t0 = time.perf_counter()
            writers[key](metrics)
            times[key].append((time.perf_counter() - t0) * 1000)
    for (backend, _way), (run_id, _) in runs.items():  # what was written is what a run would have
        with db.read_scope(urls[backend]) as session:
            assert len(frames.gradients_frame(session, [run_id])) == epochs * len(labels)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--preset", default="vgg38-bn-rc")
    parser.add_argument("--epochs", type=int, default=30, help="epoch writes per backend and way")
    postgres_option(parser, "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    torch.set_num_threads(1)

    header("db_write.py")
    config = RunConfig.from_preset(args.preset, epochs=args.epochs, device="cpu")
    size = len(to_bytes(last_state(config)))
    print(
        f"# {config.label}: per epoch 1 epoch row + {len(weight_labels(build_model(config)))} gradient rows; "
        f"`last` checkpoint {size / 1e6:.2f} MB; {args.epochs} epochs per backend and way, rotating; first "
        f"{WARMUP} of each not counted",
        flush=True,
    )

    with fresh_postgres(args.postgres) as (pg_url, server), tempfile.TemporaryDirectory() as tmp:
        urls = {"sqlite": f"sqlite:///{tmp}/vgp.db", "postgres": pg_url}
        print(f"# sqlite: a file in {tmp} (WAL); files: folders in {tmp}; postgres {server}: "
              f"{make_url(pg_url).render_as_string()}", flush=True)  # fmt: skip
        times = measure(urls, config, args.epochs, Path(tmp))

    medians = {}
    for (backend, way), values in times.items():
        counted = sorted(values[WARMUP:])
        medians[backend, way] = statistics.median(counted)
        p90 = counted[int(0.9 * (len(counted) - 1))]
        print(f"{backend:<9} {way:<8} median {medians[backend, way]:8.2f} ms per epoch   p90 {p90:8.2f} ms")
    for backend in ("sqlite", "postgres"):
        print(
            f"{backend}: db / files {medians[backend, 'db'] / medians[backend, 'files']:.2f}x, "
            f"db / metrics {medians[backend, 'db'] / medians[backend, 'metrics']:.2f}x (medians)"
        )


if __name__ == "__main__":
    main()
