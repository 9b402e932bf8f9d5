"""The worker's settings, from the environment, all checked at start (`check_environment`): a bad value stops a
process with one line naming the variable, before it writes anything.

    VGP_HEARTBEAT_S           10   a running job refreshes runs.heartbeat_at (and its worker RQ's) this often
    VGP_STALE_AFTER_S         40   a running run silent this long, whose RQ job is not alive, is marked interrupted
    VGP_SWEEP_INTERVAL_S      10   every worker (and the dashboard) runs worker.reconcile this often
    VGP_CANCEL_GRACE_S        10   a run still running this long after its cancel flag gets RQ's stop-job command
    VGP_AUTO_RESUMES           1   automatic re-enqueues an interrupted run gets before it waits for a person
    VGP_EPOCH_TIMEOUT_S     3600   RQ's wall-time limit per epoch of a job (plus JOB_STARTUP_S)
    VGP_MAX_PARAMS_X_BATCH   4e9   a run's parameters times its batch size may not exceed this (memory budget)
    VGP_DOWNLOAD               1   a job may try torchvision's CIFAR-100 download (0: never)
    VGP_OUTAGE_S             300   a job retries database and Redis writes that fail on the connection this long
    VGP_CHECKPOINT_STORE      db   db | files: where a job keeps its checkpoints (worker.checkpoints)
    VGP_KEEP_CHECKPOINTS    best   best | none: what a completed run keeps
    VGP_ARCHITECTURES      unset   name=module:function,...: registered architectures (vgp_models.registry)

With the defaults a run whose worker died (SIGKILL, power loss) shows interrupted within about 50 s.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, fields

from redis.connection import parse_url
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from vgp_models import registry

__all__ = ["CHECKPOINT_STORES", "KEPT_CHECKPOINTS", "Settings", "check_environment", "keep_setting", "store_setting"]

CHECKPOINT_STORES = ("db", "files")
KEPT_CHECKPOINTS = ("best", "none")


def _variable(field_name: str) -> str:
    return f"VGP_{field_name.upper()}"


def _parse(name: str, kind: str, raw: str) -> float | int | bool:
    """One variable's text as `kind` (int, float, bool as 0/1); ValueError naming the variable."""
    try:
        if kind == "bool":
            if raw not in ("0", "1"):
                raise ValueError
            return raw == "1"
        value = int(raw) if kind == "int" else float(raw)
    except ValueError:
        want = {"int": "a whole number", "float": "a number", "bool": "0 or 1"}[kind]
        raise ValueError(f"{name} must be {want}, got {raw!r}") from None
    if not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {raw!r}")
    return value


@dataclass(frozen=True)
class Settings:
    heartbeat_s: float = 10.0
    stale_after_s: float = 40.0  # > 2 heartbeats, so one slow heartbeat write never looks like a death
    sweep_interval_s: float = 10.0
    cancel_grace_s: float = 10.0
    auto_resumes: int = 1
    epoch_timeout_s: int = 3600  # a full VGG38 epoch on a CPU fits
    max_params_x_batch: float = 4e9  # VGG38 (3.4e5 parameters) up to batch ~11,000; depth 500 x width 1024 never
    download: bool = True
    outage_s: float = 300.0  # see worker.outage

    def __post_init__(self) -> None:
        for f in fields(self):
            if getattr(self, f.name) < 0:
                raise ValueError(f"{_variable(f.name)} must not be negative, got {getattr(self, f.name)}")
        for name in ("heartbeat_s", "sweep_interval_s", "epoch_timeout_s", "max_params_x_batch"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{_variable(name)} must be positive, got {getattr(self, name)}")
        if self.stale_after_s < 2 * self.heartbeat_s:
            raise ValueError(
                f"VGP_STALE_AFTER_S ({self.stale_after_s:g}) must be at least twice "
                f"VGP_HEARTBEAT_S ({self.heartbeat_s:g})"
            )

    @classmethod
    def from_env(cls) -> Settings:
        """The settings named by VGP_* variables, defaults for the rest; ValueError (one line) on a bad value."""
        values: dict[str, float | int | bool] = {}
        for f in fields(cls):
            raw = os.environ.get(_variable(f.name), "").strip()
            if raw:
                values[f.name] = _parse(_variable(f.name), str(f.type), raw)
        return cls(**values)

    @property
    def worker_heartbeat_s(self) -> int:
        """RQ's job_monitoring_interval: whole seconds (RQ times it with alarm())."""
        return max(1, int(self.heartbeat_s))


def _choice(name: str, default: str, allowed: tuple[str, ...]) -> str:
    value = os.environ.get(name, "").strip().lower() or default
    if value not in allowed:
        raise ValueError(f"{name} must be one of {', '.join(allowed)}; got {value!r}")
    return value


def store_setting() -> str:
    """VGP_CHECKPOINT_STORE: db (default) or files; ValueError (one line) otherwise."""
    return _choice("VGP_CHECKPOINT_STORE", "db", CHECKPOINT_STORES)


def keep_setting() -> str:
    """VGP_KEEP_CHECKPOINTS: best (default) or none; ValueError (one line) otherwise."""
    return _choice("VGP_KEEP_CHECKPOINTS", "best", KEPT_CHECKPOINTS)


def _check_redis_url(url: str) -> None:
    # Messages never quote the URL: it may hold a password.
    try:
        parse_url(url)
    except ValueError as e:
        raise ValueError(f"REDIS_URL is not a Redis URL ({e})") from None
    database = url.split("?", 1)[0].rsplit("/", 1)[-1] if url.count("/") > 2 else ""
    if database and not database.isdigit():
        raise ValueError("REDIS_URL must end in a database number (redis://host:6379/0)")


def _check_database_url(url: str) -> None:
    try:
        make_url(url)  # a port that is not a number fails here too
    except (ArgumentError, ValueError) as e:
        raise ValueError(f"DATABASE_URL is not a database URL ({type(e).__name__})") from None


def check_environment() -> Settings:
    """Parse every setting a worker or the dashboard reads; ValueError, one line naming the variable."""
    if os.environ.get("REDIS_URL"):
        _check_redis_url(os.environ["REDIS_URL"])
    if os.environ.get("DATABASE_URL"):
        _check_database_url(os.environ["DATABASE_URL"])
    store_setting()
    keep_setting()
    registry.check_setting()  # each builder loads and builds (in a child process, once per setting)
    return Settings.from_env()
