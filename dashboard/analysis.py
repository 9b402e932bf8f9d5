"""What the pages compute, as plain functions of the store's frames: testable without Streamlit.

The vanishing-gradient flag, Table 1 rebuilt from the database, the default pair of runs to compare, the
Runs table, and the long-format frames behind every CSV export. Inputs are `worker.store` frames
(`runs_frame`, `epochs_frame`, `gradients_frame`, `gradient_ends_frame`); nothing here queries or draws.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd

from vgp_models.config import PRESETS, TABLE1, Table1Row

VANISHING_RATIO = 1e-3
"""A run's input layer getting less than this fraction of its last layer's mean |grad| is 'vanishing gradients'."""

RUN_STATUSES = ("queued", "running", "completed", "failed", "cancelled", "diverged", "interrupted")


# ---- gradients -----------------------------------------------------------------------------------


def gradient_ends(grads: pd.DataFrame) -> pd.DataFrame:
    """A long gradients frame reduced to `frames.gradient_ends_frame`'s shape: run_id, epoch, first, last.

    first/last = abs_mean_last of the run's lowest/highest layer_index (entry conv / linear layer).
    """
    if grads.empty:
        return pd.DataFrame({"run_id": [], "epoch": [], "first": [], "last": []}).astype("float64")
    bounds = grads.groupby("run_id")["layer_index"].agg(lo="min", hi="max")
    g = grads.join(bounds, on="run_id")
    first = g[g["layer_index"] == g["lo"]].set_index(["run_id", "epoch"])["abs_mean_last"].rename("first")
    last = g[g["layer_index"] == g["hi"]].set_index(["run_id", "epoch"])["abs_mean_last"].rename("last")
    return pd.concat([first, last], axis=1).reset_index()


def gradient_ratio(ends: pd.DataFrame) -> pd.DataFrame:
    """`ends` plus `ratio` = first / last; NaN where the last layer's value is missing or zero."""
    out = ends.copy()
    last = out["last"].where(out["last"] > 0)
    out["ratio"] = (out["first"] / last).astype("float64")
    return out


def vanishing_gradients(ends: pd.DataFrame, threshold: float = VANISHING_RATIO) -> pd.Series:
    """The flag: per run (index run_id), True when at its latest epoch the input layer's mean |grad| (last
    batch) is below `threshold` times the last layer's. A run with no usable last-layer value is not flagged."""
    if ends.empty:
        return pd.Series(dtype=bool, name="vanishing")
    latest = gradient_ratio(ends).sort_values(["run_id", "epoch"]).groupby("run_id").tail(1).set_index("run_id")
    return (latest["ratio"] < threshold).rename("vanishing")


def vanishing_message(name: str, ratio: float) -> str:
    """The flag's one line, as the Run and Compare pages show it."""
    return (
        f"**Vanishing gradients** in {name}: its input layer gets {ratio:.1e} of its last layer's mean |gradient| "
        f"(latest epoch; flagged below {VANISHING_RATIO:g})."
    )


def latest_ratios(ends: pd.DataFrame) -> pd.Series:
    """Per run (index run_id): first/last at its latest epoch (NaN when undefined)."""
    if ends.empty:
        return pd.Series(dtype="float64", name="ratio")
    latest = gradient_ratio(ends).sort_values(["run_id", "epoch"]).groupby("run_id").tail(1)
    return latest.set_index("run_id")["ratio"]


# ---- runs ----------------------------------------------------------------------------------------


def run_names(runs: pd.DataFrame) -> dict[int, str]:
    """Legend names: '#12 VGG38 BN+RC', or '#12 my-name (VGG38 BN+RC)' when the run was named."""
    names = {}
    for row in runs[["id", "name", "label"]].itertuples(index=False):
        name = str(row.name or "")
        names[int(row.id)] = f"#{row.id} {row.label}" if not name or name == row.label else f"#{row.id} {name}"
    return names


def config_is(config: Mapping[str, Any] | None, preset: str, lr: float | None = None) -> bool:
    """Whether a stored config is `preset`'s reference architecture (width 32, no reduction shortcut), at `lr`."""
    if not isinstance(config, Mapping):
        return False
    want = {"width": 32, "shortcut": "none", "batch_norm": False, "residual": False, **PRESETS[preset]}
    if any(config.get(k, v if k in ("width", "shortcut") else None) != v for k, v in want.items()):
        return False
    return lr is None or math.isclose(float(config.get("lr", math.nan)), lr, rel_tol=1e-9)


def default_compare(runs: pd.DataFrame) -> list[int]:
    """The runs Compare opens with: the newest VGG08 and VGG38 with an epoch (healthy vs broken), else the
    newest two runs with an epoch. `runs` needs id, epochs_done and config, newest first."""
    started = runs[runs["epochs_done"].fillna(0) > 0]
    pair = []
    for preset in ("vgg08", "vgg38"):
        match = started[started["config"].map(lambda c, p=preset: config_is(c, p))]
        if not match.empty:
            pair.append(int(match["id"].max()))
    if len(pair) == 2:
        return pair
    return sorted(int(i) for i in started["id"].head(2))


def remaining_seconds(mean_epoch_s: float, epochs_total: int, epochs_done: int) -> float:
    """The ETA of a running run: mean epoch time so far x epochs left."""
    return float(mean_epoch_s) * max(int(epochs_total) - int(epochs_done or 0), 0)


def _int(value: Any) -> int:
    return 0 if value is None or pd.isna(value) else int(value)


def step_seconds(run: Mapping[str, Any], now: datetime) -> float | None:
    """Seconds per step of the epoch in flight (runs.epoch_step steps since epoch_started_at, which the job
    stamps after the first step); None before its second step."""
    step, started = _int(run.get("epoch_step")), run.get("epoch_started_at")
    if step < 2 or started is None or pd.isna(started):
        return None
    return max((now - started).total_seconds(), 0.0) / (step - 1)


def in_epoch(run: Mapping[str, Any]) -> tuple[int, int] | None:
    """(step k, of N) of a running run's epoch in flight; None when no step of it has been written."""
    step, steps = _int(run.get("epoch_step")), _int(run.get("epoch_steps"))
    return (step, steps) if run.get("status") == "running" and step > 0 and steps > 0 else None


def run_fraction(run: Mapping[str, Any]) -> float:
    """How much of a run is done, 0..1, counting the steps of the epoch in flight."""
    total = _int(run.get("epochs_total"))
    done = _int(run.get("epochs_done")) + (lambda s: s[0] / s[1] if s else 0.0)(in_epoch(run))
    return min(max(done / total, 0.0), 1.0) if total > 0 else 0.0


def run_eta(run: Mapping[str, Any], mean_epoch_s: float | None, now: datetime) -> float | None:
    """Seconds left of a running run: the epoch in flight at its step rate, then the epochs after it at the mean
    epoch time (the step rate x N before one finished); None until either is known."""
    total, done = _int(run.get("epochs_total")), _int(run.get("epochs_done"))
    steps, rate = in_epoch(run), step_seconds(run, now)
    if steps is not None and rate is not None:
        epoch_s = mean_epoch_s if mean_epoch_s is not None else rate * steps[1]
        return rate * (steps[1] - steps[0]) + epoch_s * max(total - done - 1, 0)
    return remaining_seconds(mean_epoch_s, total, done) if mean_epoch_s is not None else None


def eta_seconds(runs: pd.DataFrame, epochs: pd.DataFrame, now: datetime | None = None) -> dict[int, float]:
    """Running runs' run_eta, by run id (runs with neither a finished epoch nor a step rate are left out)."""
    now = now or datetime.now(UTC)
    mean = epochs.groupby("run_id")["seconds"].mean() if not epochs.empty else pd.Series(dtype="float64")
    out = {}
    for run in runs[runs["status"] == "running"].to_dict("records"):
        run_id = int(run["id"])
        mean_s = float(mean[run_id]) if run_id in mean.index and pd.notna(mean[run_id]) else None
        eta = run_eta(run, mean_s, now)
        if eta is not None:
            out[run_id] = eta
    return out


def epochs_text(run: Mapping[str, Any]) -> str:
    """'3 / 10', or '3 / 10 · step 120/475' while the fourth epoch is in flight."""
    steps = in_epoch(run)
    text = f"{_int(run.get('epochs_done'))} / {_int(run.get('epochs_total'))}"
    return text + (f" · step {steps[0]}/{steps[1]}" if steps else "")


def runs_table(runs: pd.DataFrame, etas: Mapping[int, float], vanishing: pd.Series, fmt_eta: Any) -> pd.DataFrame:
    """The Runs page's table: one display row per run, in `runs`' order."""
    records = runs.to_dict("records")
    ids = runs["id"].astype(int)
    flagged = ids.map(lambda i: bool(vanishing.get(i, False)))
    return pd.DataFrame(
        {
            "id": ids,
            "name": runs["name"].fillna(""),
            "model": runs["label"],
            "group": runs["group_name"].fillna(""),
            "tags": runs["tags"].map(lambda t: list(t or [])),
            "status": runs["status"],
            "progress": [run_fraction(r) for r in records],
            "epochs": [epochs_text(r) for r in records],
            "eta": [
                fmt_eta(etas[i]) if i in etas else "after epoch 1" if s == "running" else ""
                for i, s in zip(ids, runs["status"])
            ],  # fmt: skip
            "best val acc": runs["best_val_acc"],
            "gradients": np.where(flagged, "vanishing", ""),
            "params": runs["params"],
            "device": runs["device"].fillna(""),
            "worker": runs["worker_name"].fillna("") if "worker_name" in runs else "",
            "created": runs["created_at"],
            "open": "run?run=" + ids.astype(str),
        }
    )


# ---- cost estimates ------------------------------------------------------------------------------

ESTIMATE_KEYS = ("depth", "width", "batch_norm", "residual", "shortcut", "amp")
"""What a measured epoch time is kept by (with the device): the architecture and its precision."""
TRAIN_IMAGES = 47_500  # the coursework's train split


def train_images(config: Mapping[str, Any]) -> int:
    subset = int(config.get("subset") or 0)
    return min(subset, TRAIN_IMAGES) if subset else TRAIN_IMAGES


def image_seconds(runs: pd.DataFrame, epochs: pd.DataFrame) -> dict[tuple, float]:
    """(device, architecture) -> measured seconds of an epoch per training image: the median epoch of the run
    that trained the most images per epoch (a smoke run's fixed costs per epoch weigh more per image)."""
    if runs.empty or epochs.empty:
        return {}
    median = epochs.dropna(subset=["seconds"]).groupby("run_id")["seconds"].median()
    best: dict[tuple, tuple[int, float]] = {}
    for run in runs.to_dict("records"):
        config = run.get("config") or {}
        if int(run["id"]) not in median.index or not run.get("device") or not config:
            continue
        key, n = (run["device"], tuple(config.get(k) for k in ESTIMATE_KEYS)), train_images(config)
        if key not in best or n > best[key][0]:
            best[key] = (n, float(median[int(run["id"])]) / n)
    return {key: rate for key, (_, rate) in best.items()}


def workers_device(runs: pd.DataFrame) -> str | None:
    """The device the workers train on, as the newest run that started says; None before any did."""
    devices = runs["device"].dropna() if "device" in runs else pd.Series(dtype=object)
    return str(devices.iloc[0]) if len(devices) else None


def estimate_seconds(configs: list[Mapping[str, Any]], rates: Mapping[tuple, float], device: str | None):
    """Wall time (s) of training `configs` one after another on `device`; None when any architecture was never
    measured there (no guess)."""
    total = 0.0
    for config in configs:
        rate = rates.get((device, tuple(config.get(k) for k in ESTIMATE_KEYS)))
        if rate is None:
            return None
        total += rate * train_images(config) * int(config["epochs"])
    return total


def filter_runs(runs: pd.DataFrame, statuses=(), groups=(), tags=()) -> pd.DataFrame:
    """Runs whose status is in `statuses`, group in `groups` and that carry any of `tags`; empty = no filter."""
    keep = pd.Series(True, index=runs.index)
    if statuses:
        keep &= runs["status"].isin(list(statuses))
    if groups:
        keep &= runs["group_name"].isin(list(groups))
    if tags:
        wanted = set(tags)
        keep &= runs["tags"].map(lambda t: bool(wanted & set(t or [])))
    return runs[keep]


# ---- Table 1 -------------------------------------------------------------------------------------


def lr_text(lr: float) -> str:
    """1e-3, as the report writes a learning rate."""
    return f"{lr:.0e}".replace("e-0", "e-").replace("e+0", "e")


def table1_name(row: Table1Row) -> str:
    """A Table 1 run's name: 'VGG38 BN lr 1e-2'."""
    return f"{row.model} lr {lr_text(row.lr)}"


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


def _measured(row: Table1Row, run: Mapping[str, Any] | None, epochs: pd.DataFrame) -> dict[str, Any]:
    blank = dict.fromkeys(
        ("run_id", "params", "train_loss", "train_acc_pct", "val_loss", "val_acc_pct", "test_loss", "test_acc_pct",
         "best_epoch", "epochs_run", "wall_s"), np.nan)  # fmt: skip
    if run is None:
        return blank
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


TABLE1_COLUMNS = (
    "model", "lr", "run_id", "params", "train_loss", "train_acc_pct", "val_loss", "val_acc_pct", "test_loss",
    "test_acc_pct", "best_epoch", "epochs_run", "wall_s", "report_params", "report_train_loss",
    "report_train_acc_pct", "report_val_loss", "report_val_acc_pct", "diff_train_loss", "diff_train_acc_pct",
    "diff_val_loss", "diff_val_acc_pct",
)  # fmt: skip


_COMPARED = ("train_loss", "train_acc_pct", "val_loss", "val_acc_pct")


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
        ours = _measured(row, by_id.get(found[i]) if i in found else None, epochs)
        report = {
            "report_params": row.params,
            "report_train_loss": row.train_loss,
            "report_train_acc_pct": row.train_acc,
            "report_val_loss": row.val_loss,
            "report_val_acc_pct": row.val_acc,
        }
        diffs = {f"diff_{k}": ours[k] - report[f"report_{k}"] for k in _COMPARED}
        rows.append({"model": row.model, "lr": row.lr, **ours, **report, **diffs})
    frame = pd.DataFrame(rows, columns=list(TABLE1_COLUMNS))
    return frame.astype({"run_id": "Int64", "params": "Int64", "best_epoch": "Int64", "epochs_run": "Int64"})


# ---- exports -------------------------------------------------------------------------------------


def with_run_names(frame: pd.DataFrame, names: Mapping[int, str]) -> pd.DataFrame:
    """`frame` (long format, a run_id column) with a `run` name column right after run_id: for CSV exports."""
    out = frame.copy()
    out.insert(out.columns.get_loc("run_id") + 1, "run", out["run_id"].map(lambda i: names.get(int(i), f"#{i}")))
    return out
