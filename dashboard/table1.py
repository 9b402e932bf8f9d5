"""The report's Table 1 rebuilt from the database's frames (`worker.frames.runs_frame`, `epochs_frame`), beside
the report's numbers (vgp_models.config.TABLE1), the difference and the independent reproductions' ranges; which
run stands for each row (CHOICE_RULE, also Compare's default pair); the names Launch gives its runs."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

from dashboard.cost import train_images
from dashboard.reference import config_is
from vgp_models.config import TABLE1, TRAIN_IMAGES
from vgp_models.reproductions import reproductions, span_text
from vgp_models.table1_compare import COMPARED, beside_report, measured_numbers
from worker.frames import lr_text


def table1_name(model: str, lr: float) -> str:
    """A Table 1 row's (or a config's) name with its learning rate: 'VGG38 BN lr 1e-2'."""
    return f"{model} lr {lr_text(lr)}"


def table1_group(now: datetime) -> str:
    """The group 'Reproduce Table 1' files its seven runs under: 'Table 1 · 2026-11-27 14:05:09'."""
    return f"Table 1 · {now:%Y-%m-%d %H:%M:%S}"


CHOICE_RULE = (
    "Each row uses, among the runs of its network and learning rate, the one trained on the most images per "
    "epoch (the full 47,500 before any subset), then with the most epochs run, then completed before not, then "
    "fp32 before bf16, then the newest; choose another run per row below."
)


PICKS = "table1_picks"
"""The session's per-row choices ({row index: run id}) that override CHOICE_RULE on Results and Compare."""


def choice_key(run: Mapping[str, Any]) -> tuple:
    """How well a run stands for its Table 1 row, larger is better (CHOICE_RULE): training images per epoch,
    epochs run, completed, fp32, then the id (the newest). A smoke run on a subset never outranks a full one."""
    config = run.get("config") or {}
    done = run.get("epochs_done")
    epochs = 0 if done is None or pd.isna(done) else int(done)
    return (train_images(config), epochs, run.get("status") == "completed", not config.get("amp"), int(run["id"]))


def table1_candidates(runs: pd.DataFrame) -> dict[int, list[int]]:
    """Table 1's row index -> ids of the runs of that row (config and lr match) that have a result to show
    (completed, or at least one epoch run), best first by `choice_key`; rows without one are left out."""
    done = runs["epochs_done"].fillna(0) > 0 if "epochs_done" in runs else False
    shown = runs[(runs["status"] == "completed") | done]
    found = {}
    for i, row in enumerate(TABLE1):
        match = shown[shown["config"].map(lambda c, r=row: config_is(c, r.preset, r.lr))]
        if not match.empty:
            found[i] = [int(r["id"]) for r in sorted(match.to_dict("records"), key=choice_key, reverse=True)]
    return found


def table1_runs(runs: pd.DataFrame, picks: Mapping[int, int] | None = None) -> dict[int, int]:
    """Table 1's row index -> the run that stands for it: the user's pick where it is still a candidate,
    else the best by CHOICE_RULE."""
    picks = picks or {}
    return {i: picks[i] if picks.get(i) in ids else ids[0] for i, ids in table1_candidates(runs).items()}


def default_compare(runs: pd.DataFrame, picks: Mapping[int, int] | None = None) -> list[int]:
    """The runs Compare opens with: Table 1's VGG08 and VGG38 rows as Results chooses them (healthy vs broken),
    else the newest two runs with an epoch. `runs` needs id, status, epochs_done and config, newest first."""
    chosen = table1_runs(runs, picks)
    if 0 in chosen and 1 in chosen:  # TABLE1[0] is VGG08, TABLE1[1] VGG38, both at lr 1e-3
        return [chosen[0], chosen[1]]
    started = runs[runs["epochs_done"].fillna(0) > 0]
    return sorted(int(i) for i in started["id"].head(2))


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
    at = best.iloc[0].to_dict() if not best.empty else {}
    return {
        "run_id": run["id"],
        "params": run.get("params"),
        **measured_numbers(at, run.get("test_loss"), run.get("test_acc")),
        "best_epoch": run.get("best_epoch"),
        "epochs_run": len(mine),
        "wall_s": float(mine["seconds"].sum()) if not mine.empty else np.nan,
    }


SETTINGS = ("run", "subset", "precision")
"""What the run behind a row is: its name, training images per epoch ('full' or a count), fp32 or bf16."""
REPRODUCED = ("indep_runs", "indep_val_acc_pct", "indep_val_loss", "indep_test_acc_pct")
"""The independent reproductions' count and ranges (vgp_models.reproductions), as text."""
TABLE1_COLUMNS = (
    "model", "lr", *MEASURED, *SETTINGS, "report_params", *(f"report_{k}" for k in COMPARED),
    *(f"diff_{k}" for k in COMPARED), *REPRODUCED,
)  # fmt: skip


def run_settings(run: Mapping[str, Any] | None) -> dict[str, Any]:
    """SETTINGS of the run behind a row; empty without one."""
    if run is None:
        return dict.fromkeys(SETTINGS, "")
    config = run.get("config") or {}
    images = train_images(config)
    return {
        "run": run.get("title") or f"#{int(run['id'])}",
        "subset": "full" if images >= TRAIN_IMAGES else f"{images:,} images",
        "precision": "bf16" if config.get("amp") else "fp32",
    }


def reproduced(preset: str, lr: float) -> dict[str, Any]:
    """REPRODUCED for a Table 1 row: '7', '47.8–49.1', ...; empty where nobody reproduced it."""
    found = reproductions(preset, lr)
    if found is None:
        return dict.fromkeys(REPRODUCED, "")
    return {
        "indep_runs": str(found.runs),
        "indep_val_acc_pct": span_text(found.val_acc),
        "indep_val_loss": span_text(found.val_loss, 2),
        "indep_test_acc_pct": span_text(found.test_acc),
    }


def table1_frame(runs: pd.DataFrame, epochs: pd.DataFrame, picks: Mapping[int, int] | None = None) -> pd.DataFrame:
    """The report's Table 1 rebuilt from the database, beside the report's numbers, the difference and the
    independent reproductions' ranges.

    One row per TABLE1 row: the run that stands for it (`table1_runs`: CHOICE_RULE, or the user's `picks`),
    its name, subset and precision; its train/val loss and accuracy at its best-val epoch, test loss/accuracy
    (of the best-val checkpoint), epochs run and wall time (the sum of its epochs' seconds). Accuracies in %
    like the report; diff = ours - report. Rows without a run are NaN.
    `runs` needs id, status, config, epochs_done, title, params, best_epoch, test_loss, test_acc; `epochs` those
    runs' epochs.
    """
    found = table1_runs(runs, picks)
    by_id = {int(r["id"]): r for r in runs.to_dict("records")}
    rows = []
    for i, row in enumerate(TABLE1):
        run = by_id.get(found[i]) if i in found else None
        ours = measured(run, epochs)
        rows.append({"model": row.model, "lr": row.lr, **ours, **run_settings(run), "report_params": row.params,
                     **beside_report(ours, row), **reproduced(row.preset, row.lr)})  # fmt: skip
    frame = pd.DataFrame(rows, columns=list(TABLE1_COLUMNS))
    return frame.astype({"run_id": "Int64", "params": "Int64", "best_epoch": "Int64", "epochs_run": "Int64"})
