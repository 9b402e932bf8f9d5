"""Reliability timings, from the environment (read when used, so a test or a deploy can shorten them).

    VGP_HEARTBEAT_S       10   a running job refreshes runs.heartbeat_at, and its worker its RQ heartbeat, this often
    VGP_STALE_AFTER_S     40   a running run silent this long, whose RQ job is not alive, is marked interrupted
    VGP_SWEEP_INTERVAL_S  10   every worker (and the dashboard) runs worker.reconcile this often
    VGP_CANCEL_GRACE_S    10   a run still running this long after its cancel flag gets RQ's stop-job command
    VGP_AUTO_RESUMES       1   automatic re-enqueues an interrupted run gets before it waits for a person
    VGP_OUTAGE_S         300   a job retries database and Redis writes that fail on the connection this long

With the defaults a run whose worker died (SIGKILL, power loss) shows interrupted within about 50 s.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, fields

__all__ = ["Settings"]


@dataclass(frozen=True)
class Settings:
    heartbeat_s: float = 10.0
    stale_after_s: float = 40.0  # > 2 heartbeats, so one slow heartbeat write never looks like a death
    sweep_interval_s: float = 10.0
    cancel_grace_s: float = 10.0
    auto_resumes: int = 1
    outage_s: float = 300.0  # see worker.outage

    def __post_init__(self) -> None:
        if not all(getattr(self, f.name) >= 0 for f in fields(self)):
            raise ValueError(f"reliability settings must not be negative: {self}")
        if self.heartbeat_s <= 0 or self.sweep_interval_s <= 0:
            raise ValueError("VGP_HEARTBEAT_S and VGP_SWEEP_INTERVAL_S must be positive")
        if self.stale_after_s < 2 * self.heartbeat_s:
            raise ValueError(
                f"VGP_STALE_AFTER_S ({self.stale_after_s:g}) must be at least twice "
                f"VGP_HEARTBEAT_S ({self.heartbeat_s:g})"
            )

    @classmethod
    def from_env(cls) -> Settings:
        """The settings named by VGP_* variables, defaults for the rest; ValueError (one line) on a bad value."""
        values: dict[str, float | int] = {}
        for f in fields(cls):
            name = f"VGP_{f.name.upper()}"
            raw = os.environ.get(name, "").strip()
            if raw:
                try:
                    values[f.name] = int(raw) if f.type == "int" else float(raw)
                except ValueError:
                    raise ValueError(f"{name} must be a number, got {raw!r}") from None
        return cls(**values)

    @property
    def worker_heartbeat_s(self) -> int:
        """RQ's job_monitoring_interval: whole seconds (RQ times it with alarm())."""
        return max(1, int(self.heartbeat_s))
