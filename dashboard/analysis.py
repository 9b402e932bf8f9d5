"""What the pages compute, as plain functions of the store's frames: testable without Streamlit.

The vanishing-gradient flag, Table 1 rebuilt from the database, the default pair of runs to compare, the
Runs table, and the long-format frames behind every CSV export. Inputs are `worker.store` frames
(`runs_frame`, `epochs_frame`, `gradients_frame`, `gradient_ends_frame`); nothing here queries or draws.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd

from vgp_models.config import PRESETS, TABLE1, ConfigError, RunConfig, Table1Row

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


# What a Table 1 row's run must share with the report beyond its preset: width, no reduction shortcut and
# none of the other cures (a Kaiming-init or amplified VGG38 is not the report's VGG38). A stored config
# without one of these keys predates it and had this value.
REFERENCE = {"width": 32, "shortcut": "none", "arch": "vgg", "init": "default", "activation": "leaky_relu",
             "optimizer": "adam", "grad_amp_factor": 1.0}  # fmt: skip


def config_is(config: Mapping[str, Any] | None, preset: str, lr: float | None = None) -> bool:
    """Whether a stored config is `preset`'s reference network (REFERENCE's settings), at `lr`."""
    if not isinstance(config, Mapping):
        return False
    if any(config.get(k, v) != v for k, v in REFERENCE.items()):
        return False
    if any(config.get(k) != v for k, v in {"batch_norm": False, "residual": False, **PRESETS[preset]}.items()):
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


def amplified_now(config: Mapping[str, Any] | None, epochs_done: int) -> bool:
    """Whether a run's latest recorded epoch had gradient amplification on: its gradient statistics, and so
    its vanishing ratio, then carry the factor below each amplified layer."""
    try:
        return epochs_done > 0 and RunConfig.from_dict(dict(config or {})).amplifies(int(epochs_done))
    except (ConfigError, TypeError):
        return False


def gradients_text(flagged: bool, amplified: bool) -> str:
    """The Runs table's gradients cell: 'vanishing', 'amplified', 'vanishing (amplified)' or ''."""
    if flagged:
        return "vanishing (amplified)" if amplified else "vanishing"
    return "amplified" if amplified else ""


def epochs_text(run: Mapping[str, Any]) -> str:
    """'3 / 10', or '3 / 10 · step 120/475' while the fourth epoch is in flight."""
    steps = in_epoch(run)
    text = f"{_int(run.get('epochs_done'))} / {_int(run.get('epochs_total'))}"
    return text + (f" · step {steps[0]}/{steps[1]}" if steps else "")


def runs_table(runs: pd.DataFrame, etas: Mapping[int, float], vanishing: pd.Series, fmt_eta: Any) -> pd.DataFrame:
    """The Runs page's table: one display row per run, in `runs`' order (with `config`, amplified epochs show)."""
    records = runs.to_dict("records")
    done = runs["epochs_done"].fillna(0).astype(int)
    ids = runs["id"].astype(int)
    flagged = ids.map(lambda i: bool(vanishing.get(i, False)))
    configs = runs["config"] if "config" in runs else [None] * len(runs)
    amplified = [amplified_now(c, d) for c, d in zip(configs, done)]
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
            "gradients": [gradients_text(f, a) for f, a in zip(flagged, amplified)],
            "params": runs["params"],
            "device": runs["device"].fillna(""),
            "worker": runs["worker_name"].fillna("") if "worker_name" in runs else "",
            "created": runs["created_at"],
            "open": "run?run=" + ids.astype(str),
        }
    )


# ---- cost estimates ------------------------------------------------------------------------------

ESTIMATE_KEYS = ("arch", "depth", "width", "batch_norm", "residual", "shortcut", "amp")
"""What a measured epoch time is kept by (with the device): the architecture and its precision."""


def estimate_key(config: Mapping[str, Any]) -> tuple:
    """ESTIMATE_KEYS' values; a field a stored config predates takes RunConfig's default."""
    fields = RunConfig.__dataclass_fields__
    return tuple(config.get(k, fields[k].default) for k in ESTIMATE_KEYS)
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
        key, n = (run["device"], estimate_key(config)), train_images(config)
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
        rate = rates.get((device, estimate_key(config)))
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
        ours = measured(by_id.get(found[i]) if i in found else None, epochs)
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


# ---- seeds ---------------------------------------------------------------------------------------

SEED_NUMBERS = ("train_loss", "train_acc_pct", "val_loss", "val_acc_pct", "test_loss", "test_acc_pct",
                "best_epoch", "epochs_run", "wall_s", "params")  # fmt: skip
"""The numbers of a run that are averaged over seeds: every number of the Results table."""

BAND_LABELS = {"minmax": "band: min..max over seeds", "sd": "band: mean ± 1 sd over seeds"}


def seedless_key(config: Mapping[str, Any] | None) -> str:
    """A stored config without its seed, as canonical JSON: runs with equal keys are seeds of one config."""
    if not isinstance(config, Mapping):
        return ""
    return json.dumps({k: v for k, v in config.items() if k != "seed"}, sort_keys=True, default=str)


def seed_of(config: Mapping[str, Any] | None) -> int | None:
    seed = config.get("seed") if isinstance(config, Mapping) else None
    return int(seed) if isinstance(seed, int) else None


def seed_rows(runs: pd.DataFrame, epochs: pd.DataFrame) -> pd.DataFrame:
    """One row per run: id, seed, `key` (seedless_key), `config` (a display name shared by the key's runs)
    and SEED_NUMBERS (`measured`). `runs` needs id, label, config, params, best_epoch, test_loss, test_acc."""
    records = runs.to_dict("records")
    keys = [seedless_key(r.get("config")) for r in records]
    rows = [
        {"run_id": int(r["id"]), "seed": seed_of(r.get("config")), "key": k,
         **{c: measured(r, epochs)[c] for c in SEED_NUMBERS}}
        for r, k in zip(records, keys)
    ]  # fmt: skip
    frame = pd.DataFrame(rows, columns=["run_id", "seed", "key", *SEED_NUMBERS])
    frame.insert(3, "config", frame["key"].map(config_names(runs)))
    return frame.astype({c: "float64" for c in SEED_NUMBERS})


def config_names(runs: pd.DataFrame) -> dict[str, str]:
    """seedless_key -> a display name: the label and learning rate ('VGG38 BN+RC lr 1e-3'), numbered where two
    configs would read the same."""
    names: dict[str, str] = {}
    for row in runs.sort_values("id").itertuples():
        key = seedless_key(row.config)
        if key in names:
            continue
        lr = row.config.get("lr") if isinstance(row.config, Mapping) else None
        name = f"{row.label} lr {lr_text(lr)}" if isinstance(lr, float) else str(row.label)
        taken = sum(1 for n in names.values() if n == name or n.startswith(f"{name} ["))
        names[key] = f"{name} [{taken + 1}]" if taken else name
    return names


def mean_sd_n(values: pd.Series) -> tuple[float, float, int]:
    """Mean, sample standard deviation (n - 1; NaN below two values) and N of the non-missing values."""
    kept = pd.Series(values, dtype="float64").dropna()
    n = len(kept)
    return (float(kept.mean()) if n else math.nan, float(kept.std(ddof=1)) if n > 1 else math.nan, n)


def aggregate_seeds(rows: pd.DataFrame, keys: list[str], numbers: tuple[str, ...] = SEED_NUMBERS) -> pd.DataFrame:
    """Per group of `keys`: `n` (runs), `seeds` ('0, 1, 2'), and for every number its mean (named as the
    number), `<number>_sd` and `<number>_n` (the values present). Groups keep their first appearance's order."""
    out = []
    for group, part in rows.groupby(keys, sort=False, dropna=False):
        record = dict(zip(keys, group if isinstance(group, tuple) else (group,)))
        seeds = sorted(int(s) for s in part["seed"].dropna()) if "seed" in part else []
        record |= {"n": len(part), "seeds": ", ".join(map(str, seeds))}
        for number in numbers:
            mean, sd, n = mean_sd_n(part[number])
            record |= {number: mean, f"{number}_sd": sd, f"{number}_n": n}
        out.append(record)
    columns = [*keys, "n", "seeds", *(f"{c}{s}" for c in numbers for s in ("", "_sd", "_n"))]
    return pd.DataFrame(out, columns=columns)


def seed_noise(agg: pd.DataFrame, reference: int, value: str = "val_acc_pct") -> pd.Series:
    """Per row of `aggregate_seeds` output: is its difference in mean `value` from row `reference` (a position)
    larger than their spread, the sum of the two standard deviations? One phrase per row."""
    ref = agg.iloc[reference]
    verdicts = []
    for i, row in enumerate(agg.itertuples(index=False)):
        mean, sd = getattr(row, value), getattr(row, f"{value}_sd")
        if i == reference:
            verdicts.append("reference")
        elif pd.isna(sd) or pd.isna(ref[f"{value}_sd"]) or pd.isna(mean) or pd.isna(ref[value]):
            verdicts.append("needs 2+ seeds each")
        else:
            diff, spread = mean - ref[value], sd + ref[f"{value}_sd"]
            word = "beyond" if abs(diff) > spread else "within"
            verdicts.append(f"{word} seed noise ({diff:+.2f} vs ±{spread:.2f})")
    return pd.Series(verdicts, index=agg.index, name="seed_noise")


def seed_band(frame: pd.DataFrame, by: list[str], value: str, kind: str = "minmax") -> pd.DataFrame:
    """The mean of `value` per group of `by`, with a band: `lo`..`hi` = min..max (kind 'minmax') or mean ± 1
    sample sd (kind 'sd'; a single seed gives no band: lo = hi = the mean); and `n`."""
    if kind not in BAND_LABELS:
        raise ValueError(f"band kind must be one of {', '.join(BAND_LABELS)}, got {kind!r}")
    grouped = frame.dropna(subset=[value]).groupby(by, sort=False)[value]
    out = grouped.agg(mean="mean", lo="min", hi="max", sd="std", n="count").reset_index()
    if kind == "sd":
        sd = out["sd"].fillna(0.0)
        out["lo"], out["hi"] = out["mean"] - sd, out["mean"] + sd
    return out.drop(columns="sd")


def seed_export(rows: pd.DataFrame, agg: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """The per-seed rows (row = 'seed') then, per group, its mean, sd and n rows (row = 'mean', 'sd', 'n'),
    in one long frame with the per-seed columns: what the seeds CSV holds."""
    per_seed = rows.assign(row="seed")
    numbers = [c for c in SEED_NUMBERS if c in rows]
    stats = []
    for stat, suffix in (("mean", ""), ("sd", "_sd"), ("n", "_n")):
        part = agg[keys].assign(row=stat, seed=agg["seeds"])
        for number in numbers:
            part[number] = agg[f"{number}{suffix}"].astype("float64")
        stats.append(part)
    front = ["row", *keys, "seed"]
    out = pd.concat([per_seed, *stats], ignore_index=True)
    return out[[*front, *(c for c in out.columns if c not in front)]]


def table1_seed_rows(runs: pd.DataFrame, epochs: pd.DataFrame) -> pd.DataFrame:
    """Per Table 1 row (model, lr first): `seed_rows` of every completed run that shares the config of the row's
    latest completed run except the seed. `epochs` must hold those runs' epochs (`table1_seed_run_ids`)."""
    parts = []
    done = runs[runs["status"] == "completed"]
    keys = done["config"].map(seedless_key)
    for i, run_id in table1_runs(runs).items():
        key = seedless_key(done.loc[done["id"] == run_id, "config"].iloc[0])
        rows = seed_rows(done[keys == key], epochs).sort_values("seed", kind="stable")
        rows.insert(0, "lr", TABLE1[i].lr)
        rows.insert(0, "model", TABLE1[i].model)
        parts.append(rows)
    if not parts:
        return pd.DataFrame(columns=["model", "lr", "run_id", "seed", "key", "config", *SEED_NUMBERS])
    return pd.concat(parts, ignore_index=True)


def table1_seed_run_ids(runs: pd.DataFrame) -> list[int]:
    """The runs `table1_seed_rows` reads: each Table 1 row's latest completed run and its other seeds."""
    done = runs[runs["status"] == "completed"]
    keys = done["config"].map(seedless_key)
    wanted = {seedless_key(done.loc[done["id"] == i, "config"].iloc[0]) for i in table1_runs(runs).values()}
    return sorted(int(i) for i in done.loc[keys.isin(wanted), "id"])


# ---- exports -------------------------------------------------------------------------------------


def with_run_names(frame: pd.DataFrame, names: Mapping[int, str]) -> pd.DataFrame:
    """`frame` (long format, a run_id column) with a `run` name column right after run_id: for CSV exports."""
    out = frame.copy()
    out.insert(out.columns.get_loc("run_id") + 1, "run", out["run_id"].map(lambda i: names.get(int(i), f"#{i}")))
    return out
