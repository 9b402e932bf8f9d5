"""The Runs page's table: one display row per run, and the filters by status, group and tag."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import pandas as pd

from dashboard.progress import epochs_text, run_fraction
from vgp_models.config import ConfigError, RunConfig
from worker.frames import run_title


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


def runs_table(
    runs: pd.DataFrame, etas: Mapping[int, float], vanishing: pd.Series, fmt_eta: Callable[[float], str]
) -> pd.DataFrame:
    """The Runs page's table: one display row per run, in `runs`' order, named by run_title (with `config`, its
    settings, lr and amplified epochs show); best val acc in %."""
    records = runs.to_dict("records")
    done = runs["epochs_done"].fillna(0).astype(int)
    ids = runs["id"].astype(int)
    flagged = ids.map(lambda i: bool(vanishing.get(i, False)))
    configs = runs["config"] if "config" in runs else pd.Series([None] * len(runs), index=runs.index)
    amplified = [amplified_now(c, d) for c, d in zip(configs, done)]
    return pd.DataFrame(
        {
            "id": ids,
            "run": [run_title(i, n, c) for i, n, c in zip(ids, runs["name"], configs)],
            "lr": [float(c["lr"]) if isinstance(c, Mapping) and "lr" in c else None for c in configs],
            "group": runs["group_name"].fillna(""),
            "tags": runs["tags"].map(lambda t: list(t or [])),
            "status": runs["status"],
            "progress": [run_fraction(r) for r in records],
            "epochs": [epochs_text(r) for r in records],
            "eta": [
                fmt_eta(etas[i]) if i in etas else "after epoch 1" if s == "running" else ""
                for i, s in zip(ids, runs["status"])
            ],  # fmt: skip
            "best val acc": 100 * runs["best_val_acc"].astype("float64"),  # in %, ACC_FORMAT
            "gradients": [gradients_text(f, a) for f, a in zip(flagged, amplified)],
            "params": runs["params"],
            "device": runs["device"].fillna(""),
            "worker": runs["worker_name"].fillna("") if "worker_name" in runs else "",
            "created": runs["created_at"],
            "open": "run?run=" + ids.astype(str),
        }
    )


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
