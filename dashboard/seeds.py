"""Runs that share a config except the seed: their numbers per seed, aggregated (mean, sd, N), compared with
seed noise, and banded for the charts. Plain functions of the runs and epochs frames."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

import pandas as pd

from dashboard.table1 import measured, table1_name, table1_runs
from vgp_models.config import TABLE1

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
        name = table1_name(row.label, lr) if isinstance(lr, float) else str(row.label)
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
    """Per Table 1 row (model, lr first): `seed_rows` of every completed run that shares the config of the
    completed run standing for the row (table1_runs) except the seed. `epochs` must hold those runs' epochs
    (`table1_seed_run_ids`)."""
    parts = []
    done = runs[runs["status"] == "completed"]
    keys = done["config"].map(seedless_key)
    for i, run_id in table1_runs(done).items():
        key = seedless_key(done.loc[done["id"] == run_id, "config"].iloc[0])
        rows = seed_rows(done[keys == key], epochs).sort_values("seed", kind="stable")
        rows.insert(0, "lr", TABLE1[i].lr)
        rows.insert(0, "model", TABLE1[i].model)
        parts.append(rows)
    if not parts:
        return pd.DataFrame(columns=["model", "lr", "run_id", "seed", "key", "config", *SEED_NUMBERS])
    return pd.concat(parts, ignore_index=True)


def table1_seed_run_ids(runs: pd.DataFrame) -> list[int]:
    """The runs `table1_seed_rows` reads: the completed run that stands for each Table 1 row, and its other seeds."""
    done = runs[runs["status"] == "completed"]
    keys = done["config"].map(seedless_key)
    wanted = {seedless_key(done.loc[done["id"] == i, "config"].iloc[0]) for i in table1_runs(done).values()}
    return sorted(int(i) for i in done.loc[keys.isin(wanted), "id"])
