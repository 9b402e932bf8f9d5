"""Loss landscapes on the page: each one's name, its progress with ETA, and its points named for charts and CSVs.
Plain functions of worker.landscapes' frames and the runs frame (its `title`); no Streamlit."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

from dashboard.display import fmt_duration
from vgp_models.config import RunConfig


def landscape_name(row: Mapping[str, Any], run_titles: Mapping[int, str]) -> str:
    """'#3 · VGG38 BN+RC #12 (best) · 2D 21×21', '#4 · fresh VGG38 · 1D 41', from a landscapes-frame row."""
    config = row["config"]
    if config.get("preset"):
        around = f"fresh {RunConfig.from_preset(config['preset']).label}"
    elif pd.notna(row.get("run_id")):
        run_id = int(row["run_id"])
        around = f"{run_titles.get(run_id, f'run #{run_id}')} ({config.get('kind', 'best')})"
    else:
        around = "a checkpoint file"
    points = config.get("points")
    grid = f"2D {points}×{points}" if config.get("dims") == 2 else f"1D {points}"
    return f"#{int(row['id'])} · {around} · {grid}"


def progress(row: Mapping[str, Any]) -> tuple[float, str]:
    """The progress bar's fraction and text: 'k of N points · ETA 4 min' (the mean time per point so far, from
    started_at to the last point's heartbeat, so that it holds still between points)."""
    done, total = int(row["points_done"] or 0), max(int(row["points_total"] or 0), 1)
    text = f"{done} of {total} points"
    started, beat = row.get("started_at"), row.get("heartbeat_at")
    if row["status"] == "queued":
        text += " · waiting for a worker"
    elif row["status"] == "running":
        if done and pd.notna(started) and pd.notna(beat):
            per_point = max((beat - started).total_seconds(), 0.0) / done
            text += f" · ETA {fmt_duration(per_point * (total - done))}"
        else:
            text += " · ETA after the first point"
    elif pd.notna(started) and pd.notna(row.get("finished_at")):
        text += f" · took {fmt_duration((row['finished_at'] - started).total_seconds())}"
    return min(done / total, 1.0), text


def named_points(points: pd.DataFrame, names: Mapping[int, str]) -> pd.DataFrame:
    """`points` with a `series` column (each landscape's name), for charts, and first in CSVs."""
    out = points.copy()
    out.insert(1, "series", out["landscape_id"].map(lambda i: names.get(int(i), f"#{i}")))
    return out
