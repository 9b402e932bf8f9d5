"""The report's Table 1 rebuilt from the database's frames (`worker.frames.runs_frame`, `epochs_frame`), beside
the report's numbers (vgp_models.config.TABLE1) and the difference; the names Launch gives its runs."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

from dashboard.reference import config_is
from vgp_models.config import TABLE1


def lr_text(lr: float) -> str:
    """1e-3, as the report writes a learning rate."""
    return f"{lr:.0e}".replace("e-0", "e-").replace("e+0", "e")


def table1_name(model: str, lr: float) -> str:
    """A Table 1 row's (or a config's) name with its learning rate: 'VGG38 BN lr 1e-2'."""
    return f"{model} lr {lr_text(lr)}"


def table1_group(now: datetime) -> str:
    """The group 'Reproduce Table 1' files its seven runs under: 'Table 1 · 2026-11-27 14:05:09'."""
    return f"Table 1 · {now:%Y-%m-%d %H:%M:%S}"


def table1_runs(runs: pd.DataFrame) -> dict[int, int]:
    """Table 1's row index -> id of the latest completed run of that row (config and lr match)."""
    done = runs[runs["status"] == "completed"].sort_values("id", ascending=False)
    found = {}
    for i, row in enumerate(TABLE1):
        match = done[done["config"].map(lambda c, r=row: config_is(c, r.preset, r.lr))]
        if not match.empty:
            found[i] = int(match["id"].iloc[0])
    return found


MEASURED = (
    "run_id", "params", "train_loss", "train_acc_pct", "val_loss", "val_acc_pct", "test_loss", "test_acc_pct",
    "best_epoch", "epochs_run", "wall_s",
)  # fmt: skip


def measured(run: Mapping[str, Any] | None, epochs: pd.DataFrame) -> dict[str, Any]:
    """A run's Table 1 numbers (MEASURED): train/val at its best-val epoch, test, epochs run, wall time; NaN
    without a run. `run` needs id, params, best_epoch, test_loss, test_acc; `epochs` holds its epochs."""
    if run is None:
        return dict.fromkeys(MEASURED, np.nan)
    mine = epochs[epochs["run_id"] == run["id"]]
    best = mine[mine["epoch"] == run.get("best_epoch")]
    at = best.iloc[0] if not best.empty else pd.Series(dtype="float64")
    pct = 100.0

    def get(name: str) -> float:
        value = at.get(name, np.nan)
        return float(value) if value is not None else np.nan

    return {
        "run_id": run["id"],
        "params": run.get("params"),
        "train_loss": get("train_loss"),
        "train_acc_pct": pct * get("train_acc"),
        "val_loss": get("val_loss"),
        "val_acc_pct": pct * get("val_acc"),
        "test_loss": run.get("test_loss"),
        "test_acc_pct": pct * run["test_acc"] if run.get("test_acc") is not None else np.nan,
        "best_epoch": run.get("best_epoch"),
        "epochs_run": len(mine),
        "wall_s": float(mine["seconds"].sum()) if not mine.empty else np.nan,
    }


COMPARED = ("train_loss", "train_acc_pct", "val_loss", "val_acc_pct")
"""The numbers the report printed: each has a report_<number> and a diff_<number> column."""
TABLE1_COLUMNS = (
    "model", "lr", *MEASURED, "report_params", *(f"report_{k}" for k in COMPARED), *(f"diff_{k}" for k in COMPARED),
)  # fmt: skip


def table1_frame(runs: pd.DataFrame, epochs: pd.DataFrame) -> pd.DataFrame:
    """The report's Table 1 rebuilt from the database, beside the report's numbers and the difference.

    One row per TABLE1 row: the latest completed run of it (`table1_runs`); its train/val loss and accuracy at
    its best-val epoch, test loss/accuracy (of the best-val checkpoint), epochs run and wall time (the sum of
    its epochs' seconds). Accuracies in % like the report; diff = ours - report. Rows without a run are NaN.
    `runs` needs id, status, config, params, best_epoch, test_loss, test_acc; `epochs` those runs' epochs.
    """
    found = table1_runs(runs)
    by_id = {int(r["id"]): r for r in runs.to_dict("records")}
    rows = []
    for i, row in enumerate(TABLE1):
        ours = measured(by_id.get(found[i]) if i in found else None, epochs)
        report = {
            "report_params": row.params,
            "report_train_loss": row.train_loss,
            "report_train_acc_pct": row.train_acc,
            "report_val_loss": row.val_loss,
            "report_val_acc_pct": row.val_acc,
        }
        diffs = {f"diff_{k}": ours[k] - report[f"report_{k}"] for k in COMPARED}
        rows.append({"model": row.model, "lr": row.lr, **ours, **report, **diffs})
    frame = pd.DataFrame(rows, columns=list(TABLE1_COLUMNS))
    return frame.astype({"run_id": "Int64", "params": "Int64", "best_epoch": "Int64", "epochs_run": "Int64"})
