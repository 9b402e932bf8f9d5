"""What a launch will cost: wall time estimated from the epochs already measured on the workers' device, per
architecture and training image. Plain functions of the runs and epochs frames."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

from vgp_models.config import RunConfig

ESTIMATE_KEYS = ("arch", "depth", "width", "batch_norm", "residual", "shortcut", "amp")
"""What a measured epoch time is kept by (with the device): the architecture and its precision."""
TRAIN_IMAGES = 47_500  # the coursework's train split


def estimate_key(config: Mapping[str, Any]) -> tuple:
    """ESTIMATE_KEYS' values; a field a stored config predates takes RunConfig's default."""
    fields = RunConfig.__dataclass_fields__
    return tuple(config.get(k, fields[k].default) for k in ESTIMATE_KEYS)


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
