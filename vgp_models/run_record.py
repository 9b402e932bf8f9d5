"""A run folder's config.json, checked field by field before anything of it reaches a database.

The importer writes these fields into typed columns; a value of the wrong type or size (a dict where a number
belongs, a 1 MB label) would fail there, after other folders were written, or be stored as nonsense. So each
field is checked here: its type, its range, its length, and against the folder's own rows (the epochs it
ran, its best epoch). `check_record` returns only the fields it checked, uuid in its canonical form.
"""

from __future__ import annotations

import datetime as dt
import math
import uuid
from pathlib import Path
from typing import Any

from vgp_models.config import RunConfig
from vgp_models.folder_files import RunFolderError

FINISHED = ("completed", "diverged", "cancelled")  # a record in another status is a run still going (or crashed)
TRACKED_FINISHED = (*FINISHED, "failed", "interrupted")  # a tracked run is never resumed: these are ends too
TRACKED = "tracked"  # config.json's `origin` of a tracked run's folder (vgp_models.track_sink)
MAX_EPOCHS = 10_000  # RunConfig's bound, and a tracked run's

TEXT_LIMITS = {"label": 200, "device": 32, "torch": 64, "git_commit": 40, "message": 2000}
"""The longest each text field may be (the database's columns: runs.name 200, device 32, git_sha 40)."""

MAX_PARAMS = 10**12
MAX_STEP = 2**31 - 1  # runs.diverged_step is a 32-bit integer


def canonical_uuid(value: object) -> str:
    """The canonical text of a uuid written any way uuid.UUID reads (upper case, braces, urn:uuid:, no
    hyphens): one run, one key. ValueError for anything else."""
    if not isinstance(value, str) or len(value) > 45:
        raise ValueError(f"run_uuid is {str(value)[:60]!r}, not a uuid")
    try:
        return str(uuid.UUID(value))
    except ValueError:
        raise ValueError(f"run_uuid is {value!r}, not a uuid") from None


def _text(record: dict[str, Any], key: str, required: bool = False) -> str | None:
    value = record.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip() and required:
        raise ValueError(f"{key} is {_shown(value)}, not text")
    if len(value) > TEXT_LIMITS[key]:
        raise ValueError(f"{key} is {len(value):,} characters long; at most {TEXT_LIMITS[key]} are kept")
    return " ".join(value.split()) if key == "message" else value  # a message is shown as one line


def _whole(record: dict[str, Any], key: str, low: int, high: int) -> int | None:
    value = record.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValueError(f"{key} is {_shown(value)}, not a whole number from {low:,} to {high:,}")
    return value


def _fraction(record: dict[str, Any], key: str, high: float = 1.0) -> float | None:
    value = record.get(key)
    if value is None:
        return None
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or not 0 <= value <= high:
        span = "in 0..1" if high == 1.0 else ">= 0"
        raise ValueError(f"{key} is {_shown(value)}, not a finite number {span}")
    return float(value)


def _time(record: dict[str, Any], key: str) -> dt.datetime:
    value = record.get(key)
    try:
        if not isinstance(value, str) or len(value) > 40:
            raise ValueError
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{key} is {_shown(value)}, not an ISO time") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def _shown(value: object) -> str:
    """A value for a one-line message: its repr, cut short."""
    text = repr(value)
    return text if len(text) <= 60 else f"{text[:57]}..."


def _layers(record: dict[str, Any]) -> list[Any]:
    value = record.get("amplified_layers") or []
    if not isinstance(value, list) or len(value) > 10_000 or not all(isinstance(v, (int, str)) for v in value):
        raise ValueError("amplified_layers is not a list of layer names")
    return value


def check_record(path: Path, record: object, n_epochs: int) -> tuple[RunConfig | dict[str, Any], dict[str, Any]]:
    """The config and the checked fields of a config.json whose folder holds `n_epochs` epochs.

    RunFolderError (one line, naming `path`) for a field of the wrong type, range or length, a status that is
    not finished, times out of order, epochs_run other than the rows, or a best epoch outside them.
    """
    try:
        return _check(record, n_epochs)
    except ValueError as e:  # ConfigError is one
        raise RunFolderError(f"{path}: {e}") from None


def is_tracked(record: object) -> bool:
    """A tracked run's folder (vgp_models.track): the user's own config, any end status, blanks allowed."""
    return isinstance(record, dict) and record.get("origin") == TRACKED


def _config(record: dict[str, Any], n_epochs: int) -> tuple[RunConfig | dict[str, Any], int]:
    """The run's config and its epoch count: a RunConfig, or a tracked run's own JSON object and `epochs`."""
    if not is_tracked(record):
        config = RunConfig.from_dict(record.get("config"))
        return config, config.epochs
    config = record.get("config")
    if not isinstance(config, dict):
        raise ValueError(f"config is {_shown(config)}, not a JSON object")
    return config, _whole(record, "epochs", 1, MAX_EPOCHS) or n_epochs


def _check(record: Any, n_epochs: int) -> tuple[RunConfig | dict[str, Any], dict[str, Any]]:
    config, total = _config(record, n_epochs)
    status = record.get("status")
    ends = TRACKED_FINISHED if is_tracked(record) else FINISHED
    if status not in ends:
        raise ValueError(
            f"status {_shown(status)}; only a finished run ({', '.join(ends)}) imports "
            "(resume it with `python -m vgp_models train --resume` first)"
        )
    started, finished = _time(record, "started_at"), _time(record, "finished_at")
    if finished < started:
        raise ValueError(f"finished_at {record['finished_at']} is before started_at {record['started_at']}")
    if n_epochs > total:
        raise ValueError(f"{n_epochs} epochs in its rows, but its config ran {total}")
    epochs_run = _whole(record, "epochs_run", 0, total)
    if epochs_run is not None and epochs_run != n_epochs:
        raise ValueError(f"epochs_run is {epochs_run}, but the folder holds {n_epochs} epochs")
    checked = {
        "run_uuid": canonical_uuid(record.get("run_uuid")),
        "status": status,
        "label": _text(record, "label"),
        "device": _text(record, "device"),
        "torch": _text(record, "torch"),
        "git_commit": _text(record, "git_commit"),
        "message": _text(record, "message"),
        "started_at": started.isoformat(),
        "finished_at": finished.isoformat(),
        "params": _whole(record, "params", 1, MAX_PARAMS),
        "epochs_run": epochs_run,
        "best_epoch": _whole(record, "best_epoch", 1, n_epochs),
        "best_val_acc": _fraction(record, "best_val_acc"),
        "test_acc": _fraction(record, "test_acc"),
        "test_loss": _fraction(record, "test_loss", high=math.inf),
        "diverged_step": _whole(record, "diverged_step", 1, MAX_STEP),
        "amplified_layers": _layers(record),
        "epochs": total,
    }
    return config, checked
