"""Shared by the dashboard's AppTest modules (on the `env` fixture's store and queue): the app opened on a page,
and runs written straight into the store with synthetic epochs."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from streamlit.testing.v1 import AppTest

from tests.run_support import epoch_metrics
from vgp_models.config import RunConfig
from vgp_models.metrics import LayerGrad
from worker import db, schema, store

ROOT = Path(__file__).resolve().parents[1]
APP = str(ROOT / "dashboard" / "app.py")
TIMEOUT = 30


def open_page(page: str | None = None, run: int | str | None = None) -> AppTest:
    """The app, switched to `page` (e.g. 'views/runs.py'; None = Launch), with no exception."""
    at = AppTest.from_file(APP, default_timeout=TIMEOUT).run()
    if run is not None:
        at.query_params["run"] = str(run)
    if page is not None:
        at.switch_page(page).run()
    assert not at.exception, at.exception
    return at


def layer_value(kind: str, index: int, layers: int, epoch: int) -> float:
    """Synthetic mean |grad|: 'healthy' is flat across depth (~1e-3); 'vanishing' falls 1e9 from last to first."""
    if kind == "vanishing":
        return 1e-4 * 10.0 ** (-9 * (layers - 1 - index) / (layers - 1)) / epoch
    return 1e-3 * (1 + 0.1 * index) / epoch


def add_run(
    preset: str = "vgg08",
    status: str = "completed",
    epochs: int = 3,
    layers: int = 9,
    kind: str = "healthy",
    reason: str | None = None,
    name: str | None = "=not-a-formula",
    group: str | None = None,
    tags: tuple[str, ...] = (),
    **fields,
) -> int:
    """A run written straight into the store: `epochs` epochs of EpochMetrics with `layers` LayerGrads each."""
    config = RunConfig.from_preset(preset, epochs=epochs, subset=64, lr=fields.pop("lr", 1e-3),
                                   seed=fields.pop("seed", 0))  # fmt: skip
    with db.session_scope() as session:
        run_id = store.create_run(session, config, store.RunMeta(name=name, group=group, tags=tags)).id
        for e in range(1, epochs + 1):
            grads = [
                LayerGrad(i, f"layer_{i}", layer_value(kind, i, layers, e), 1e-3, 0.1 * (i + 1)) for i in range(layers)
            ]
            metrics = epoch_metrics(
                e, epochs, train_loss=4.6 - 0.1 * e, train_acc=0.01 * e, val_loss=4.6 - 0.05 * e, val_acc=0.02 * e,
                lr=config.lr, seconds=1.5, grads=grads,
            )  # fmt: skip
            store.record_epoch(session, run_id, metrics)
        store.set_status(session, run_id, status, reason=reason, **fields)
    return run_id


def all_runs() -> list[schema.Run]:
    with db.session_scope() as session:
        return store.list_runs(session)


def markdown_text(at: AppTest) -> str:
    return "\n".join(m.value for m in at.markdown)


def runs_frame(rows: list[dict]) -> pd.DataFrame:
    """A runs frame like reads.load_runs: newest first, with config dicts and labels."""
    out = []
    for i, row in enumerate(rows, start=1):
        config = RunConfig.from_preset(row.pop("preset"), **row.pop("config", {})).to_dict()
        out.append(
            dict(
                id=i, name=None, status="completed", config=config, label=RunConfig.from_dict(config).label,
                epochs_done=1, epochs_total=1, params=1000 * i, best_epoch=1, test_loss=4.0, test_acc=0.05,
                group_name=None, tags=[], best_val_acc=0.1, device="cpu", worker_name="w", created_at=None,
            ) | row
        )  # fmt: skip
    return pd.DataFrame(out).iloc[::-1].reset_index(drop=True)
