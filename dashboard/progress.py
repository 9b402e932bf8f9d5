"""How far a run is and when it will end: from its epochs done, the step of the epoch in flight (written by
worker.progress) and the epochs' times. Plain functions of a run's record and the epochs frame."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import pandas as pd

from dashboard.display import fmt_duration


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
    return float(mean_epoch_s) * max(total - done, 0) if mean_epoch_s is not None else None


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
    """Where a run is, the same words on every page: 'Epoch 3 of 10' (epochs done), or 'Epoch 4 of 10 · step 120
    of 475' while the fourth epoch is in flight."""
    steps = in_epoch(run)
    done, total = _int(run.get("epochs_done")), _int(run.get("epochs_total"))
    if steps:
        return f"Epoch {done + 1} of {total} · step {steps[0]} of {steps[1]}"
    return f"Epoch {done} of {total}"


def bar(run: Mapping[str, Any], epoch_seconds: list[float], now: datetime | None = None) -> tuple[float, str]:
    """The progress bar's fraction and text: epochs_text, then the ETA ('Epoch 4 of 10 · step 3 of 20 · ETA ...',
    from the epoch in flight's step rate and the mean epoch time, run_eta) or how it ended."""
    done = _int(run.get("epochs_done"))
    total = _int(run.get("epochs_total")) or 1
    fraction = run_fraction({**run, "epochs_total": total})
    status = run["status"]
    if status == "queued":
        return fraction, f"Queued: waiting for a worker (epoch {done} of {total} done)"
    text = epochs_text({**run, "epochs_total": total})
    mean = sum(epoch_seconds) / len(epoch_seconds) if epoch_seconds else None
    if status == "running":
        eta = run_eta(run, mean, now or datetime.now(UTC))
        text += f" · ETA {fmt_duration(eta)}" if eta is not None else " · ETA after the first epoch"
    elif epoch_seconds:
        text += f" · {status} · trained for {fmt_duration(sum(epoch_seconds))}"
    return fraction, text
