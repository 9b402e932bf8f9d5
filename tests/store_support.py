"""Shared by the store's tests (test_store.py, test_frames.py, test_dashboard_reads.py): a migrated store on real
SQLite and real Postgres, and runs written into it with synthetic epochs.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.conftest import postgres_database
from tests.run_support import epoch_metrics, tiny
from vgp_models.config import RunConfig
from vgp_models.metrics import EpochMetrics, LayerGrad
from worker import db, store

CONFIG = tiny(epochs=3, seed=0)
LAYERS = ["input_conv_conv_0", "block_0_0_conv_0", "logit_linear_layer"]


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def db_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A migrated store shared by a module's tests: a SQLite file, then a new Postgres database."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('store') / 'vgp.db'}"
        db.upgrade_database(url)
        yield url
        db.dispose_engines()
    else:
        with postgres_database() as url:
            db.upgrade_database(url)
            yield url


def metrics(epoch: int, val_acc: float = 0.1, scale: float = 1.0, train_loss: float = 4.0) -> EpochMetrics:
    grads = [LayerGrad(i, label, scale * (i + 1), scale * (i + 2), scale * (i + 3)) for i, label in enumerate(LAYERS)]
    return epoch_metrics(epoch, CONFIG.epochs, train_loss=train_loss, train_acc=0.05, val_acc=val_acc, seconds=1.5,
                         grads=grads)  # fmt: skip


def new_run(url: str, **kwargs: object) -> int:
    with db.session_scope(url) as s:
        return store.create_run(s, CONFIG, store.RunMeta(**kwargs)).id  # type: ignore[arg-type]


def seed_two_runs(url: str) -> tuple[int, int]:
    """`url` migrated, with two runs: 3 epochs of 4 layers, and 2 epochs of 6 layers."""
    db.upgrade_database(url)
    ids = []
    for epochs, layers in ((3, 4), (2, 6)):
        with db.session_scope(url) as s:
            run_id = store.create_run(s, RunConfig.from_preset("vgg08", epochs=epochs), store.RunMeta(note="n")).id
            for e in range(1, epochs + 1):
                grads = [LayerGrad(i, f"l{i}", 10.0**-i / e, 1.0, 2.0) for i in range(layers)]
                numbers = dict(train_loss=1.0, train_acc=0.5, val_loss=1.0, val_acc=0.5, grads=grads)
                store.record_epoch(s, run_id, epoch_metrics(e, epochs, **numbers))
        ids.append(run_id)
    return ids[0], ids[1]
