"""The worker's settings, from the environment, all checked at start (`check_environment`): a bad value stops a
process with one line naming the variable, before it writes anything.

    VGP_HEARTBEAT_S           10   a running job refreshes runs.heartbeat_at (and its worker RQ's) this often
    VGP_STALE_AFTER_S         40   a running run silent this long, whose RQ job is not alive, is marked interrupted
    VGP_RECONCILE_INTERVAL_S  10   every worker (and the dashboard) runs worker.reconcile this often
                                   (its old name VGP_SWEEP_INTERVAL_S is still read, with a notice: RENAMED)
    VGP_CANCEL_GRACE_S        10   a job still running this long after its run's Cancel gets RQ's stop-job command
    VGP_AUTO_RESUMES           1   automatic re-enqueues an interrupted run gets before it waits for a person
    VGP_EPOCH_TIMEOUT_S     3600   RQ's wall-time limit per epoch of a job (plus JOB_STARTUP_S)
    VGP_MAX_PARAMS_X_BATCH   4e9   a run's parameters times its batch size may not exceed this (memory budget)
    VGP_MAX_ACTIVATION_GB     16   nor the activations one training step keeps, in GB (vgp_models.memory)
    VGP_DOWNLOAD               1   a job may try torchvision's CIFAR-100 download (0: never)
    VGP_OUTAGE_S             300   a job retries database and Redis writes that fail on the connection this long
    VGP_CHECKPOINT_STORE      db   db | files: where a job keeps its checkpoints (worker.checkpoints)
    VGP_KEEP_CHECKPOINTS    best   best | none: what a completed run keeps
    VGP_QUEUE                vgp   the queue's name in Redis: letters, digits, . _ - (at most 64)
    VGP_IMPORT_MAX_MB        200   the largest zip the Runs page takes, in MB (1 to 2048)
    VGP_WEB_PORT            8501   the dashboard's port (1 to 65535; the Procfile's web line)
    VGP_WORKERS                1   workers `make run` starts on this machine (1 to 64)
    VGP_ALLOWED_HOSTS              host names, comma-separated, that may open the dashboard (Procfile)
    VGP_ARCHITECTURES      unset   name=module:function,...: registered architectures (vgp_models.registry)

Each number has a type and a range (RANGES; `Settings` fields carry theirs); `python -m worker.settings` checks
them all (a renamed setting's old name too, when set), as the Procfile and `make run` do before they start anything.

With the defaults a run whose worker died (SIGKILL, power loss) shows interrupted within about 50 s.
"""

from __future__ import annotations

import functools
import logging
import math
import os
import re
import sys
from dataclasses import dataclass, field, fields
from typing import Any

from redis.connection import parse_url
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from vgp_models import registry
from vgp_models.memory import DEFAULT_MAX_ACTIVATION_GB, DEFAULT_MAX_PARAMS_X_BATCH

__all__ = ["CHECKPOINT_STORES", "KEPT_CHECKPOINTS", "Settings", "check_environment", "keep_setting", "store_setting"]

log = logging.getLogger(__name__)

CHECKPOINT_STORES = ("db", "files")
KEPT_CHECKPOINTS = ("best", "none")


def _variable(field_name: str) -> str:
    return f"VGP_{field_name.upper()}"


RENAMED = {"reconcile_interval_s": "VGP_SWEEP_INTERVAL_S"}
"""Settings fields whose variable was renamed -> the old variable, still read while the new one is unset, so that
an install upgraded without editing its environment keeps its timing."""


def _setting(field_name: str) -> tuple[str, str]:
    """(the variable that sets `field_name`, its text, "" when unset): its own variable, else its old name."""
    name = _variable(field_name)
    raw = os.environ.get(name, "").strip()
    old = RENAMED.get(field_name)
    if raw or old is None or not os.environ.get(old, "").strip():
        return name, raw
    return old, os.environ[old].strip()


@functools.cache
def _notice_renamed(old: str, new: str, both_set: bool) -> None:
    """One line, once per process, for a setting set under its old name."""
    if both_set:
        log.warning("%s is deprecated and ignored: %s is set too and wins; remove %s", old, new, old)
    else:
        log.warning("%s is deprecated: rename it %s (its value is used meanwhile)", old, new)


def _parse(name: str, kind: str, raw: str, bounds: tuple[float, float] | None = None) -> float | int | bool:
    """One variable's text as `kind` (int, float, bool as 0/1), within `bounds`; ValueError naming the variable."""
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
    _check_range(name, value, bounds)
    return value


def _check_range(name: str, value: float, bounds: tuple[float, float] | None) -> None:
    if bounds is not None and not bounds[0] <= value <= bounds[1]:
        shown = f"{value:g}" if abs(value) < 1e18 else f"{value:.3g}"
        raise ValueError(f"{name} must be from {bounds[0]:g} to {bounds[1]:g}, got {shown}")


def _bounded(default: float, low: float, high: float) -> Any:
    """A Settings field with its sane range: a value outside it is a mistake (1e20 s overflows RQ's timer, 1e-9 s
    makes the reconcile thread spin a core), refused at start."""
    return field(default=default, metadata={"range": (low, high)})


DAY_S = 86_400.0


@dataclass(frozen=True)
class Settings:
    heartbeat_s: float = _bounded(10.0, 0.1, 3600.0)
    stale_after_s: float = _bounded(40.0, 0.2, DAY_S)  # > 2 heartbeats: one slow heartbeat write is no death
    reconcile_interval_s: float = _bounded(10.0, 0.5, DAY_S)
    cancel_grace_s: float = _bounded(10.0, 0.0, 3600.0)
    auto_resumes: int = _bounded(1, 0, 100)
    epoch_timeout_s: int = _bounded(3600, 1, 7 * DAY_S)  # a full VGG38 epoch on a CPU fits
    max_params_x_batch: float = _bounded(DEFAULT_MAX_PARAMS_X_BATCH, 1.0, 1e15)  # see vgp_models.memory
    max_activation_gb: float = _bounded(DEFAULT_MAX_ACTIVATION_GB, 0.01, 1e5)
    download: bool = True
    outage_s: float = _bounded(300.0, 0.0, DAY_S)  # see worker.outage

    def __post_init__(self) -> None:
        for f in fields(self):
            _check_range(_variable(f.name), getattr(self, f.name), f.metadata.get("range"))
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
            name, raw = _setting(f.name)
            if raw:
                values[f.name] = _parse(name, str(f.type), raw, f.metadata.get("range"))
            if f.name in RENAMED and os.environ.get(RENAMED[f.name], "").strip():
                _notice_renamed(RENAMED[f.name], _variable(f.name), both_set=name == _variable(f.name))
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


RANGES: dict[str, tuple[str, float, float]] = {
    "VGP_IMPORT_MAX_MB": ("float", 1, 2048),
    "VGP_WEB_PORT": ("int", 1, 65535),
    "VGP_WORKERS": ("int", 1, 64),
}
"""The settings read outside `Settings` (the importer, the Procfile, the Makefile): type and range."""

QUEUE_NAME = re.compile(r"[A-Za-z0-9._-]{1,64}")  # part of RQ's Redis keys, whose parts ':' separates
HOST_NAME = re.compile(r"(\*\.)?[A-Za-z0-9]([A-Za-z0-9.-]{0,252})")


def _check_names() -> None:
    queue = os.environ.get("VGP_QUEUE", "")
    if queue and not QUEUE_NAME.fullmatch(queue):
        raise ValueError(f"VGP_QUEUE must be 1 to 64 letters, digits, '.', '_' or '-', got {queue[:70]!r}")
    for host in filter(None, (h.strip() for h in os.environ.get("VGP_ALLOWED_HOSTS", "").split(","))):
        if not HOST_NAME.fullmatch(host):
            raise ValueError(f"VGP_ALLOWED_HOSTS must list host names (a.example, *.example), got {host[:70]!r}")


def check_environment() -> Settings:
    """Parse every setting a worker or the dashboard reads; ValueError, one line naming the variable."""
    if os.environ.get("REDIS_URL"):
        _check_redis_url(os.environ["REDIS_URL"])
    if os.environ.get("DATABASE_URL"):
        _check_database_url(os.environ["DATABASE_URL"])
    store_setting()
    keep_setting()
    for name, (kind, low, high) in RANGES.items():
        if raw := os.environ.get(name, "").strip():
            _parse(name, kind, raw, (low, high))
    _check_names()
    for f in fields(Settings):  # a set old name is checked even when the new one wins
        if f.name in RENAMED and (raw := os.environ.get(RENAMED[f.name], "").strip()):
            _parse(RENAMED[f.name], str(f.type), raw, f.metadata.get("range"))
    registry.check_setting()  # each builder loads and builds (in a child process, once per setting)
    return Settings.from_env()


def main() -> int:
    """`python -m worker.settings`: check every setting; one line and exit status 2 on a bad one."""
    try:
        check_environment()
    except ValueError as e:
        print(f"VGP Lab: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
