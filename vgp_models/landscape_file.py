"""A loss landscape as files: `NAME.csv` (vgp_models.landscape.POINT_COLUMNS, one row per grid point in grid
order) and `NAME.json` (its LandscapeConfig and how it was measured). `python -m vgp_models landscape --out` writes
them; a run folder may carry `landscape_1d.csv`/`.json` and `landscape_2d.csv`/`.json`, which `worker.importer`
loads with the run. The reader is strict and torch-free (the dashboard's imports use it): anything amiss is one
RunFolderError line naming the file and line.
"""

from __future__ import annotations

import csv
import json
import math
import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from vgp_models.config import ConfigError
from vgp_models.landscape_config import LandscapeConfig
from vgp_models.provenance import git_commit, now_iso
from vgp_models.run_folder import RunFolderError
from vgp_models.run_folder_reader import number_cell

FORMAT = "vgp-landscape/1"
COLUMNS = ("i", "j", "alpha", "beta", "loss", "acc")  # vgp_models.landscape.POINT_COLUMNS, without importing torch
FOLDER_NAMES = {1: "landscape_1d", 2: "landscape_2d"}  # what a run folder's landscapes are called, by dims


@dataclass
class StoredLandscape:
    path: Path  # the CSV
    config: LandscapeConfig
    record: dict[str, Any]  # the JSON
    points: list[dict[str, Any]]  # i, j, alpha, beta (None in 1D), loss (None where not finite), acc


def write_landscape(path: Path, config: LandscapeConfig, rows: list[dict[str, Any]], **meta: Any) -> Path:
    """Write `rows` (vgp_models.landscape.point_rows) to `path` and the record to `path` with .json; returns it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    record = {"format": FORMAT, "config": config.to_dict(), "points": len(rows), "git_commit": git_commit(),
              "finished_at": now_iso(), **meta}  # fmt: skip
    json_path = path.with_suffix(".json")
    tmp = json_path.with_name(f".{json_path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(record, indent=2) + "\n")
    os.replace(tmp, json_path)
    return json_path


def read_landscape(path: Path) -> StoredLandscape:
    """Read `path` (CSV) and its .json back, checking every row against the config's grid."""
    json_path = path.with_suffix(".json")
    try:
        record = json.loads(json_path.read_text())
    except (OSError, ValueError) as e:
        raise RunFolderError(f"{json_path}: not readable as JSON ({type(e).__name__})") from None
    if not isinstance(record, dict) or record.get("format") != FORMAT:
        raise RunFolderError(f"{json_path}: not a VGP Lab landscape record (format {FORMAT!r} expected)")
    try:
        config = LandscapeConfig.from_dict(record.get("config"))
    except ConfigError as e:
        raise RunFolderError(f"{json_path}: {e}") from None
    try:
        with open(path, newline="") as f:
            lines = list(csv.reader(f))
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise RunFolderError(f"{path}: not readable as CSV ({type(e).__name__})") from None
    if not lines or tuple(lines[0]) != COLUMNS:
        raise RunFolderError(f"{path} line 1: columns {','.join(COLUMNS)} expected")
    grid = config.grid()
    if len(lines) - 1 != len(grid):
        raise RunFolderError(f"{path}: {len(lines) - 1} points, {len(grid)} expected ({json_path.name}'s grid)")
    span = config.span
    points = []
    for n, (fields, (i, j, alpha, beta)) in enumerate(zip(lines[1:], grid), start=2):
        if len(fields) != len(COLUMNS):
            raise RunFolderError(f"{path} line {n}: {len(fields)} fields, {len(COLUMNS)} expected")
        row = dict(zip(COLUMNS, fields))
        if (row["i"], row["j"]) != (str(i), str(j)):
            raise RunFolderError(f"{path} line {n}: point ({row['i'][:10]}, {row['j'][:10]}), ({i}, {j}) expected")
        a = number_cell(path, n, row, "alpha", -span, span)
        b = number_cell(path, n, row, "beta", -span, span, blank=True)
        if (
            not math.isclose(a, alpha, abs_tol=1e-9)
            or (b is None) != (beta is None)
            or (b is not None and not math.isclose(b, beta, abs_tol=1e-9))
        ):
            raise RunFolderError(f"{path} line {n}: alpha, beta ({a}, {b}) are not the grid's ({alpha}, {beta})")
        points.append({"i": i, "j": j, "alpha": alpha, "beta": beta,
                       "loss": number_cell(path, n, row, "loss", blank=True),
                       "acc": number_cell(path, n, row, "acc", hi=1)})  # fmt: skip
    return StoredLandscape(path, config, record, points)


def read_folder_landscapes(folder: Path) -> list[StoredLandscape]:
    """The landscapes a run folder carries (FOLDER_NAMES), each checked; a file's dims must match its name."""
    found = []
    for dims, name in FOLDER_NAMES.items():
        path = Path(folder) / f"{name}.csv"
        if not path.exists():
            continue
        stored = read_landscape(path)
        if stored.config.dims != dims:
            raise RunFolderError(f"{path.with_suffix('.json')}: dims {stored.config.dims}, but the file is {name}")
        if stored.config.run_id is not None:  # an id of another database: the importer links it to the new run
            stored.config = replace(stored.config, run_id=None)
        found.append(stored)
    return found
