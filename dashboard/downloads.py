"""Download buttons: CSV exports and charts as PNG/SVG, and the frames the CSVs are made of.

CSVs are long format and never sampled (whatever a chart thins out for drawing), written by
`worker.exports.to_csv`, which escapes formula-like cells for spreadsheets. Every file is made when its
button is clicked (Streamlit calls the callable then, on another thread), not on each rerun; the callables
read the store through `worker.db.session_scope`, not through Streamlit.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

import altair as alt
import pandas as pd
import streamlit as st

from dashboard import charts
from dashboard.seeds import aggregate_seeds, seed_export
from worker import db, frames
from worker.exports import to_csv

CSV = "text/csv"
MIMES = {"png": "image/png", "svg": "image/svg+xml"}


def with_run_names(frame: pd.DataFrame, names: Mapping[int, str]) -> pd.DataFrame:
    """`frame` (long format, a run_id column) with a `run` name column right after run_id: for CSV exports."""
    out = frame.copy()
    out.insert(out.columns.get_loc("run_id") + 1, "run", out["run_id"].map(lambda i: names.get(int(i), f"#{i}")))
    return out


def export_frames(run_ids: Iterable[int]) -> dict[str, pd.DataFrame]:
    """The runs' epochs, gradients, forward signal and per-step points, every column and row, each with a `run`
    name column (their `title`)."""
    ids = [int(i) for i in run_ids]
    with db.session_scope() as s:
        runs = frames.runs_frame(s, ids)
        read = {"epochs": frames.epochs_frame(s, ids), "gradients": frames.gradients_frame(s, ids),
                "signals": frames.signals_frame(s, ids), "steps": frames.steps_frame(s, ids)}  # fmt: skip
    names = dict(zip(runs["id"].astype(int), runs["title"]))
    return {what: with_run_names(frame, names) for what, frame in read.items()}


def seeds_csv(rows: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """The seeds CSV's frame: per-seed rows, then each group's mean, sd and n (`seeds.seed_export`)."""
    return seed_export(rows, aggregate_seeds(rows, keys), keys)


def export_csv(run_ids: Iterable[int], what: str) -> str:
    """'epochs', 'gradients', 'signals' or 'steps' of the runs as escaped CSV text."""
    return to_csv(export_frames(run_ids)[what])


def csv_button(label: str, make: Callable[[], pd.DataFrame], file_name: str, key: str, disabled: bool = False) -> None:
    """A CSV download of the frame `make()` returns, built on click."""
    st.download_button(
        label, lambda: to_csv(make()), file_name=file_name, mime=CSV, on_click="ignore",
        icon=":material/download:", disabled=disabled, key=key,
    )  # fmt: skip


def run_csv_buttons(run_ids: list[int], stem: str, key: str) -> None:
    """Epochs, gradients, forward-signal and steps CSVs of `run_ids`, side by side."""
    row = st.container(horizontal=True)
    for what in ("epochs", "gradients", "signals", "steps"):
        with row:
            st.download_button(
                f"{what.capitalize()} CSV", lambda w=what: export_csv(run_ids, w), file_name=f"{stem}-{what}.csv",
                mime=CSV, on_click="ignore", icon=":material/download:", disabled=not run_ids, key=f"{key}-{what}",
            )  # fmt: skip


def chart_buttons(chart: alt.TopLevelMixin, stem: str, key: str) -> None:
    """PNG and SVG downloads of a chart, drawn by vl-convert on click."""
    row = st.container(horizontal=True, gap="small")
    for fmt in ("png", "svg"):
        with row:
            st.download_button(
                fmt.upper(), lambda f=fmt: charts.chart_image(chart, f), file_name=f"{stem}.{fmt}", mime=MIMES[fmt],
                on_click="ignore", icon=":material/image:", type="tertiary", key=f"{key}-{fmt}",
            )  # fmt: skip


def chart_with_buttons(chart: alt.TopLevelMixin, stem: str, key: str) -> None:
    """The chart, then its PNG/SVG downloads."""
    st.altair_chart(chart, width="stretch", key=f"{key}-chart")
    chart_buttons(chart, stem, key)
