"""Reading the store: runs, epochs, gradient statistics and the forward signal, depth sweeps and loss landscapes as
pandas frames, and a run as a plain dict (the only worker module that imports pandas, with exports.py).

Used by the dashboard, the CLI and CSV exports. Numbers come back as float64 (NULL, i.e. a non-finite value
when written, as NaN) and ids, epochs and layer indexes as int64. A run's display name is made here, once
(`run_title`), and every reader takes it from the `title` column or key.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from enum import Enum
from typing import Any

import pandas as pd
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from vgp_models.config import RunConfig
from vgp_models.vanishing import gradient_ratio
from worker import sweeps
from worker.schema import (
    EpochRow,
    GradientRow,
    Landscape,
    LandscapePointRow,
    Run,
    RunOrigin,
    SignalRow,
    StepRow,
    Sweep,
    SweepPointRow,
)

__all__ = [
    "config_label", "config_name", "EPOCH_COLUMNS", "epochs_frame", "GRADIENT_COLUMNS", "gradient_ends_frame",
    "gradients_frame", "INVALID_CONFIG", "LANDSCAPE_COLUMNS", "LANDSCAPE_POINT_COLUMNS", "landscape_points_frame",
    "landscapes_frame", "lr_text", "OWN_MODEL", "RUN_COLUMNS", "run_record", "run_summary", "run_title",
    "runs_frame", "SIGNAL_COLUMNS", "signals_frame", "STEP_COLUMNS", "steps_frame", "SWEEP_COLUMNS",
    "SWEEP_POINT_COLUMNS", "sweep_points_frame", "sweeps_frame",
]  # fmt: skip

EPOCH_COLUMNS = ("run_id", "epoch", "train_loss", "train_acc", "val_loss", "val_acc", "lr", "seconds")
STEP_COLUMNS = ("run_id", "step", "epoch", "loss", "lr", "seconds")
GRADIENT_COLUMNS = ("run_id", "epoch", "layer_index", "layer", "abs_mean_last", "abs_mean_epoch", "l2", "weight_norm",
                    "update_ratio")  # fmt: skip
SIGNAL_COLUMNS = ("run_id", "epoch", "layer_index", "layer", "mean", "std", "negative_share")
RUN_COLUMNS = (
    "id", "name", "group_name", "tags", "status", "reason", "created_at", "started_at", "finished_at",
    "heartbeat_at", "epochs_total", "epochs_done", "params", "device", "best_epoch", "best_val_acc",
    "test_loss", "test_acc", "diverged_step",
)  # fmt: skip
INVALID_CONFIG = "invalid config"  # the label of a stored config that no longer validates (an older field set)
OWN_MODEL = "own model"  # the label of a tracked run's config (vgp_models.track): the user's own, not a RunConfig


def config_label(config: Mapping[str, Any] | None) -> str:
    """RunConfig.label of a stored config ('VGG38 BN+RC'), or INVALID_CONFIG: the one place one is decoded
    for display."""
    try:
        return RunConfig.from_dict(dict(config or {})).label
    except (ValueError, TypeError):  # ConfigError is a ValueError; TypeError: not a mapping at all
        return INVALID_CONFIG


def lr_text(lr: float) -> str:
    """1e-3, as the report writes a learning rate."""
    return f"{lr:.0e}".replace("e-0", "e-").replace("e+0", "e")


DEFAULTS = RunConfig()
# The settings beyond the architecture (RunConfig.label) and lr that name a run when they differ from the
# reference's (RunConfig's defaults): how long, on how much data, at what precision. Device, memory layout and
# torch.compile do not change what a run measures and are left out.
NAMED_SETTINGS = (
    ("epochs", lambda v: f"{v} epoch{'s' if v != 1 else ''}"),
    ("subset", lambda v: f"{v:,} images"),
    ("batch_size", lambda v: f"batch {v}"),
    ("amp", lambda v: "bf16"),
    ("schedule", lambda v: f"cosine per {v}"),
    ("weight_decay", lambda v: f"wd {v:g}"),
    ("eta_min", lambda v: f"floor {v:g}"),
    ("patience", lambda v: f"patience {v}"),
    ("seed", lambda v: f"seed {v}"),
)


def config_name(config: Mapping[str, Any] | None) -> str:
    """What a run is, by the settings that tell it apart: its label and lr, then each NAMED_SETTINGS value
    that differs from the reference's: 'VGG38 BN+RC lr 1e-2', 'VGG08 lr 1e-3 · 2 epochs · 2,000 images · bf16';
    INVALID_CONFIG for a stored config that no longer validates."""
    try:
        cfg = RunConfig.from_dict(dict(config or {}))
    except (ValueError, TypeError):  # ConfigError is a ValueError; TypeError: not a mapping at all
        return INVALID_CONFIG
    differs = [show(getattr(cfg, key)) for key, show in NAMED_SETTINGS if getattr(cfg, key) != getattr(DEFAULTS, key)]
    return " · ".join([f"{cfg.label} lr {lr_text(cfg.lr)}", *differs])


def _words(text: str) -> set[str]:
    return {w for w in text.lower().replace("·", " ").split() if w not in {"+", "init", "lr"}}


def run_title(run_id: int, name: str | None = None, config: Mapping[str, Any] | None = None) -> str:
    """A run's display name everywhere (titles, pickers, legends, tables, CSVs): '#12 VGG38 BN+RC lr 1e-2 ·
    8 epochs', with the user's own name first ('#12 my-name · VGG38 ...'). A name that only repeats what the
    config says (the names Launch and imports give: 'VGG08 lr 1e-3', 'VGG38 + Kaiming init') is not shown
    twice. '#12' alone without a config."""
    described = config_name(config) if config is not None else ""
    own = name if name and not (described and _words(name) <= _words(described)) else ""
    rest = " · ".join(part for part in (own, described) if part)
    return f"#{int(run_id)} {rest}".strip()


def _frame(session: Session, query: Any, columns: tuple[str, ...], ints: tuple[str, ...]) -> pd.DataFrame:
    # Plain tuples: pandas builds a frame from SQLAlchemy Row objects about twice as slowly.
    frame = pd.DataFrame.from_records([tuple(row) for row in session.execute(query)], columns=list(columns))
    for column in columns:
        if column in ints:
            frame[column] = frame[column].astype("int64")
        elif column not in ("layer",):
            frame[column] = frame[column].astype("float64")
    return frame


def epochs_frame(session: Session, run_ids: Iterable[int]) -> pd.DataFrame:
    """One row per (run, epoch): run_id, epoch, train_loss, train_acc, val_loss, val_acc, lr, seconds."""
    ids = [int(i) for i in run_ids]
    query = (
        select(*(getattr(EpochRow, c) for c in EPOCH_COLUMNS))
        .where(EpochRow.run_id.in_(ids))
        .order_by(EpochRow.run_id, EpochRow.epoch)
    )
    return _frame(session, query, EPOCH_COLUMNS, ints=("run_id", "epoch"))


def steps_frame(session: Session, run_ids: Iterable[int]) -> pd.DataFrame:
    """One row per (run, recorded step): run_id, step (global, 1-based), epoch, loss (NaN where it was not finite),
    lr, seconds (since the run started training)."""
    ids = [int(i) for i in run_ids]
    query = select(*(getattr(StepRow, c) for c in STEP_COLUMNS)).where(StepRow.run_id.in_(ids))
    return _frame(session, query.order_by(StepRow.run_id, StepRow.step), STEP_COLUMNS, ints=("run_id", "step", "epoch"))


def gradients_frame(
    session: Session,
    run_ids: Iterable[int],
    epochs: Iterable[int] | None = None,
    columns: Iterable[str] = GRADIENT_COLUMNS,
) -> pd.DataFrame:
    """Long format, one row per (run, epoch, layer): GRADIENT_COLUMNS (or only `columns`, in that order);
    optionally only some epochs. weight_norm and update_ratio are NaN where they were not measured."""
    return _layer_frame(session, GradientRow, GRADIENT_COLUMNS, run_ids, epochs, columns)


def signals_frame(
    session: Session,
    run_ids: Iterable[int],
    epochs: Iterable[int] | None = None,
    columns: Iterable[str] = SIGNAL_COLUMNS,
) -> pd.DataFrame:
    """The forward signal, long format, one row per (run, epoch, layer output): SIGNAL_COLUMNS (or only `columns`);
    optionally only some epochs. Empty for a run recorded before the forward signal was."""
    return _layer_frame(session, SignalRow, SIGNAL_COLUMNS, run_ids, epochs, columns)


def _layer_frame(session: Session, table: type, known: tuple[str, ...], run_ids: Iterable[int],
                 epochs: Iterable[int] | None, columns: Iterable[str]) -> pd.DataFrame:  # fmt: skip
    ids = [int(i) for i in run_ids]
    columns = tuple(columns)
    unknown = sorted(set(columns) - set(known))
    if unknown:
        raise ValueError(f"unknown {table.__tablename__.removesuffix('s')} column(s): {', '.join(unknown)}")
    query = select(*(getattr(table, c) for c in columns)).where(table.run_id.in_(ids))
    if epochs is not None:
        query = query.where(table.epoch.in_([int(e) for e in epochs]))
    query = query.order_by(table.run_id, table.epoch, table.layer_index)
    return _frame(session, query, columns, ints=("run_id", "epoch", "layer_index"))


def gradient_ends_frame(session: Session, run_ids: Iterable[int] | None = None, latest: bool = False) -> pd.DataFrame:
    """The first and the last weight's mean |grad| (last batch) per (run, epoch): for the first/last ratio.

    `first` is the run's lowest layer_index (the entry conv), `last` its highest (the linear layer). With
    `latest`, only each run's latest recorded epoch (runs.epochs_done). Columns: run_id, epoch, first, last.
    """
    g = GradientRow
    ends = select(g.run_id, g.epoch, func.min(g.layer_index).label("lo"), func.max(g.layer_index).label("hi"))
    if run_ids is not None:
        ends = ends.where(g.run_id.in_([int(i) for i in run_ids]))
    if latest:
        ends = ends.join(Run, (Run.id == g.run_id) & (Run.epochs_done == g.epoch))
    ends = ends.group_by(g.run_id, g.epoch).subquery()
    query = (
        select(g.run_id, g.epoch, g.layer_index == ends.c.lo, g.abs_mean_last)
        .join(ends, (g.run_id == ends.c.run_id) & (g.epoch == ends.c.epoch))
        .where(g.layer_index.in_([ends.c.lo, ends.c.hi]))
    )
    rows = pd.DataFrame(session.execute(query).all(), columns=["run_id", "epoch", "is_first", "value"])
    rows["value"] = rows["value"].astype("float64")
    first = rows[rows["is_first"].astype(bool)].drop(columns="is_first").rename(columns={"value": "first"})
    last = rows[~rows["is_first"].astype(bool)].drop(columns="is_first").rename(columns={"value": "last"})
    frame = first.merge(last, on=["run_id", "epoch"], how="outer").sort_values(["run_id", "epoch"], ignore_index=True)
    return frame.astype({"run_id": "int64", "epoch": "int64", "first": "float64", "last": "float64"})


def _columns(run: Run) -> dict[str, Any]:
    """A run's columns as a plain dict, enums (the status) as text."""
    values = {c.key: getattr(run, c.key) for c in Run.__table__.columns}
    return {k: v.value if isinstance(v, Enum) else v for k, v in values.items()}


def run_record(run: Run) -> dict[str, Any]:
    """A run's columns (status as text) plus `label` (config_label) and `title` (run_title): what a page shows."""
    record = _columns(run)
    record["label"] = config_label(run.config)
    if record["label"] == INVALID_CONFIG and run.origin is not RunOrigin.QUEUED:
        record["label"] = OWN_MODEL  # a tracked run's config is the user's own dict, not a RunConfig
        record["title"] = f"{run_title(run.id, run.name)} · {OWN_MODEL}"
    else:
        record["title"] = run_title(run.id, run.name, run.config)
    return record


def runs_frame(session: Session, run_ids: Iterable[int] | None = None, extra: Iterable[str] = ()) -> pd.DataFrame:
    """One row per run (RUN_COLUMNS, any `extra` Run columns such as note, worker_name or config, then `label`
    and `title` as run_record makes them), newest first."""
    query = select(Run).order_by(Run.id.desc())
    if run_ids is not None:
        query = query.where(Run.id.in_([int(i) for i in run_ids]))
    columns = [*RUN_COLUMNS, *(c for c in extra if c not in RUN_COLUMNS), "label", "title"]
    rows = [{c: record[c] for c in columns} for record in map(run_record, session.scalars(query))]
    return pd.DataFrame(rows, columns=columns)


def run_summary(run: Run) -> dict[str, Any]:
    """A JSON-ready dict of a run's columns (datetimes as ISO strings, status as text): the CLI's `show` and
    run.json."""
    return {k: v.isoformat() if isinstance(v, datetime) else v for k, v in _columns(run).items()}


# ---- depth sweeps and loss landscapes ----------------------------------------------------------------------------

SWEEP_COLUMNS = ("id", "status", "reason", "created_at", "started_at", "finished_at", "heartbeat_at", "cells_total",
                 "cells_done", "device", "worker_name", "config")  # fmt: skip
SWEEP_POINT_COLUMNS = ("sweep_id", "cure", "depth", "seed", "first", "last", "ratio", "last_signal_std", "note")
LANDSCAPE_COLUMNS = ("id", "run_id", "status", "reason", "created_at", "started_at", "finished_at", "heartbeat_at",
                     "points_total", "points_done", "device", "worker_name", "config")  # fmt: skip
LANDSCAPE_POINT_COLUMNS = ("landscape_id", "i", "j", "alpha", "beta", "loss", "acc")


def sweeps_frame(session: Session) -> pd.DataFrame:
    """Every sweep, newest first: SWEEP_COLUMNS (status as text)."""
    rows = [
        {c: (s.status.value if c == "status" else getattr(s, c)) for c in SWEEP_COLUMNS}
        for s in session.scalars(select(Sweep).order_by(Sweep.id.desc()))
    ]
    return pd.DataFrame(rows, columns=list(SWEEP_COLUMNS))


def sweep_points_frame(session: Session, sweep_id: int) -> pd.DataFrame:
    """A sweep's points (SWEEP_POINT_COLUMNS): first and last weight's mean |grad|, their ratio and the last conv's
    forward signal (NaN where skipped or undefined), in measuring order (cure as the sweep lists them, then depth,
    then seed)."""
    p = SweepPointRow
    query = select(p.sweep_id, p.cure, p.depth, p.seed, p.first_grad, p.last_grad, p.last_signal_std,
                   p.note).where(p.sweep_id == sweep_id)  # fmt: skip
    columns = ["sweep_id", "cure", "depth", "seed", "first", "last", "last_signal_std", "note"]
    frame = pd.DataFrame([tuple(r) for r in session.execute(query)], columns=columns)
    frame = frame.astype({"sweep_id": "int64", "depth": "int64", "seed": "int64", "first": "float64",
                          "last": "float64", "last_signal_std": "float64"})  # fmt: skip
    frame["ratio"] = gradient_ratio(frame["first"], frame["last"])
    order = {cure: i for i, cure in enumerate(sweeps.require_sweep(session, sweep_id).config.get("cures", []))}
    frame = frame.sort_values(["depth", "seed"]).sort_values("cure", key=lambda c: c.map(order), kind="stable")
    return frame[list(SWEEP_POINT_COLUMNS)].reset_index(drop=True)


def landscapes_frame(session: Session, run_ids: Iterable[int] | None = None) -> pd.DataFrame:
    """Every landscape (or those of `run_ids`), newest first: LANDSCAPE_COLUMNS (status as text)."""
    query = select(Landscape).order_by(Landscape.id.desc())
    if run_ids is not None:
        query = query.where(Landscape.run_id.in_([int(i) for i in run_ids]))
    rows = [{c: (r.status.value if c == "status" else getattr(r, c)) for c in LANDSCAPE_COLUMNS}
            for r in session.scalars(query)]  # fmt: skip
    return pd.DataFrame(rows, columns=list(LANDSCAPE_COLUMNS)).astype({"run_id": "Int64"})


def landscape_points_frame(session: Session, landscape_ids: Iterable[int]) -> pd.DataFrame:
    """The landscapes' points (LANDSCAPE_POINT_COLUMNS) in grid order; loss NaN where it was not finite, beta NaN
    in 1D."""
    p = LandscapePointRow
    ids = [int(i) for i in landscape_ids]
    query = (select(p.landscape_id, p.i, p.j, p.alpha, p.beta, p.loss, p.acc)
             .where(p.landscape_id.in_(ids)).order_by(p.landscape_id, p.i, p.j))  # fmt: skip
    frame = pd.DataFrame([tuple(r) for r in session.execute(query)], columns=list(LANDSCAPE_POINT_COLUMNS))
    return frame.astype({"landscape_id": "int64", "i": "int64", "j": "int64", "alpha": "float64", "beta": "float64",
                         "loss": "float64", "acc": "float64"})  # fmt: skip
