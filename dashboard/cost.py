"""What a launch will cost: wall time estimated from the epochs already measured on the workers' device, and a
line saying how the number was made. Plain functions of the runs and epochs frames.

An epoch's time is taken as proportional to the images it reads (a validation image, forward only, counted as a
third of a training image), so a smoke run on 2,000 images and a full run on 47,500 both measure the same
seconds per image. What is measured is kept per (device, architecture, precision); an estimate uses, in this
order: the same architecture at the same precision, the same architecture at the other precision (said so),
another architecture on the device scaled by parameters (said so); else it is unknown.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd

from vgp_models.config import TRAIN_IMAGES, VAL_IMAGES, RunConfig, split_images
from vgp_models.provenance import parameter_count

ARCH_KEYS = ("arch", "depth", "width", "batch_norm", "residual", "shortcut")
"""What a measured epoch time is kept by, besides the device and the precision: the architecture."""
VAL_WEIGHT = 1 / 3  # a validation image is a forward pass, about a third of a training step's forward and backward


def _config(config: Mapping[str, Any]) -> RunConfig:
    """The stored config as a RunConfig; a field it predates takes the default."""
    return RunConfig.from_dict(dict(config))


def arch_key(config: Mapping[str, Any]) -> tuple:
    """ARCH_KEYS' values; a field a stored config predates takes RunConfig's default."""
    fields = RunConfig.__dataclass_fields__
    return tuple(config.get(k, fields[k].default) for k in ARCH_KEYS)


def train_images(config: Mapping[str, Any]) -> int:
    """Training images per epoch: the subset, or the whole train split."""
    return split_images(config.get("subset"), TRAIN_IMAGES)


def epoch_images(config: Mapping[str, Any]) -> float:
    """What an epoch's time is proportional to: its training images plus VAL_WEIGHT x its validation images."""
    return train_images(config) + VAL_WEIGHT * split_images(config.get("subset"), VAL_IMAGES)


def precision(config: Mapping[str, Any]) -> str:
    return "bf16" if config.get("amp") else "fp32"


@dataclass(frozen=True)
class Measured:
    """Every measured epoch of one architecture at one precision on one device, summed."""

    label: str  # 'VGG38 BN'
    params: int  # its parameters (closed form), for scaling to another architecture
    runs: int
    seconds: float
    images: float  # the epochs' epoch_images, summed

    @property
    def rate(self) -> float:
        """Seconds per image."""
        return self.seconds / self.images


def measurements(runs: pd.DataFrame, epochs: pd.DataFrame) -> dict[tuple, Measured]:
    """(device, arch_key, precision) -> Measured, from every run with a device, a valid config and timed epochs.
    `runs` needs id, device and config; `epochs` run_id and seconds."""
    if runs.empty or epochs.empty:
        return {}
    timed = epochs.dropna(subset=["seconds"]).groupby("run_id")["seconds"].agg(["sum", "count"])
    found: dict[tuple, Measured] = {}
    for run in runs.to_dict("records"):
        config, device = run.get("config"), run.get("device")
        if int(run["id"]) not in timed.index or not device or not isinstance(config, Mapping):
            continue
        try:
            cfg = _config(config)
        except (ValueError, TypeError):  # a config that no longer validates measures nothing
            continue
        seconds, count = timed.loc[int(run["id"])]
        key = (device, arch_key(config), precision(config))
        old = found.get(key, Measured(cfg.label, parameter_count(cfg), 0, 0.0, 0.0))
        found[key] = Measured(old.label, old.params, old.runs + 1, old.seconds + float(seconds),
                              old.images + epoch_images(config) * int(count))  # fmt: skip
    return found


def workers_device(runs: pd.DataFrame) -> str | None:
    """The device the workers train on, as the newest run that started says; None before any did."""
    devices = runs["device"].dropna() if "device" in runs else pd.Series(dtype=object)
    return str(devices.iloc[0]) if len(devices) else None


@dataclass(frozen=True)
class Estimate:
    seconds: float
    basis: str  # how the number was made: 'from 3 bf16 cpu runs of VGG38, scaled to 2,000 images an epoch'


def _runs(n: int) -> str:
    return f"{n} run{'s' if n != 1 else ''}"


def _one(config: Mapping[str, Any], measured: Mapping[tuple, Measured], device: str) -> tuple[float, str] | None:
    """Seconds of one config, and the phrase saying what they rest on; None when nothing related was measured."""
    cfg, want = _config(config), precision(config)
    images = epoch_images(config) * int(config["epochs"])
    other = "fp32" if want == "bf16" else "bf16"
    for prec, note in ((want, ""), (other, f", {want} not measured")):
        if (m := measured.get((device, arch_key(config), prec))) is not None:
            return m.rate * images, f"{_runs(m.runs)} of {m.label} in {prec}{note}"
    near = [m for (d, _, p), m in measured.items() if d == device and p == want] or [
        m for (d, _, _), m in measured.items() if d == device
    ]
    if not near:
        return None
    m = min(near, key=lambda m: abs(m.params - parameter_count(cfg)))  # the closest in size
    scale = parameter_count(cfg) / m.params
    return m.rate * scale * images, f"{_runs(m.runs)} of {m.label} scaled by parameters to {cfg.label}"


def estimate(configs: list[Mapping[str, Any]], measured: Mapping[tuple, Measured], device: str | None):
    """The wall time of training `configs` one after another on `device`, and how it was made (Estimate); None
    when nothing related was measured there for one of them."""
    if device is None or not configs:
        return None
    parts = [_one(config, measured, device) for config in configs]
    if any(p is None for p in parts):
        return None
    basis = list(dict.fromkeys(phrase for _, phrase in parts))
    images = sorted({train_images(c) for c in configs})
    scaled = f"{images[0]:,}" if len(images) == 1 else "their"
    text = f"from {'; '.join(basis)} on {device}, scaled to {scaled} training images an epoch"
    return Estimate(sum(seconds for seconds, _ in parts), text)
