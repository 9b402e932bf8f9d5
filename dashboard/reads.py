"""The pages' reads of the store, as plain data: each in its own read-only session. The reads a live page repeats
every second (Run, Compare) or on every rerun (Launch's estimate) are cached per version of the runs (`versions`,
`run_version`): the key changes with every write they would see, so the cache never shows stale rows."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import pandas as pd
import streamlit as st
from sqlalchemy.orm import Session

from dashboard import charts, display, run_folder_imports
from dashboard.errors import guard
from dashboard.seeds import aggregate_seeds, table1_seed_rows, table1_seed_run_ids
from dashboard.table1 import table1_frame, table1_runs
from worker import db, frames, rq_jobs, store


@contextmanager
def session() -> Iterator[Session]:
    """A read-only session on DATABASE_URL whose queries see one snapshot, so that a page never shows more
    epochs of gradients than of metrics; worker.db caches the engine per URL (tests point elsewhere)."""
    with db.read_scope(db.database_url()) as s:
        yield s


RUN_ID = re.compile(r"[0-9]{1,18}")


def parse_run_id(text: str | None) -> int | None:
    """A run id from a query parameter, or None: ASCII digits only (`isdigit()` also passes '²', which int()
    refuses), in the database's id range (1..2**31-1)."""
    run_id = int(text) if text is not None and RUN_ID.fullmatch(text) else None
    return run_id if rq_jobs.is_id(run_id) else None


def load_run(run_id: int) -> dict[str, Any] | None:
    """One run as frames.run_record makes it (every column, status as text, `label`, `title`), or None."""
    with session() as s:
        run = store.get_run(s, run_id)
        return None if run is None else frames.run_record(run)


RUN_EXTRA = ("note", "worker_name", "config", "epoch_step", "epoch_steps", "epoch_started_at")


def load_runs(run_ids: Iterable[int] | None = None) -> pd.DataFrame:
    """All runs (or `run_ids`), newest first: frames.RUN_COLUMNS, RUN_EXTRA, `label` and `title`."""
    with session() as s:
        return frames.runs_frame(s, run_ids, extra=RUN_EXTRA)


def runs_or_stop(title: str | None = None) -> pd.DataFrame:
    """`load_runs()` for a page that needs at least one run: with none, `title`, a pointer to Launch, st.stop()."""
    with guard("Cannot read the runs: "):
        runs = load_runs()
    if runs.empty:
        if title:
            st.title(display.plain(title))
        st.info("No runs yet.", icon=":material/info:")
        run_folder_imports.reference_offer()
        st.page_link("views/launch.py", label="Launch one", icon=":material/rocket_launch:")
        st.stop()
    return runs


def load_epochs(run_ids: list[int]) -> pd.DataFrame:
    with session() as s:
        return frames.epochs_frame(s, run_ids)


def load_steps(run_ids: list[int]) -> pd.DataFrame:
    """The runs' per-step points (frames.steps_frame): read on every redraw, so a live curve moves within an epoch."""
    with session() as s:
        return frames.steps_frame(s, run_ids)


def load_gradient_ends(run_ids: Iterable[int] | None = None, latest: bool = False) -> pd.DataFrame:
    """First and last weight's mean |grad| per (run, epoch), or per run at its latest epoch: the flag's input."""
    with session() as s:
        return frames.gradient_ends_frame(s, run_ids, latest=latest)


def versions(runs: pd.DataFrame) -> tuple:
    """The database, then (id, epochs_done, status) of each run: what a cached read of their metrics is keyed
    on (the database too, so that a cache never answers for another database's run of the same id)."""
    return (db.database_url(), *((int(r.id), int(r.epochs_done or 0), str(r.status)) for r in runs.itertuples()))


def run_version(run: Mapping[str, Any]) -> tuple:
    """What the Run page's cached reads of one run (a `load_run` record) are keyed on, as `versions`: the
    database, the run, its epochs recorded and its status."""
    return db.database_url(), int(run["id"]), int(run["epochs_done"] or 0), str(run["status"])


def progress_version(run: Mapping[str, Any]) -> tuple:
    """`run_version` plus the step reached in the epoch (runs.epoch_step), which moves in the same transaction as
    each write of live per-step points: the job's (worker.progress.StepWriter) and a tracked run's
    (worker.tracking)."""
    return *run_version(run), run["epoch_step"]


@st.cache_data(show_spinner=False, max_entries=16, ttl=3600)
def load_run_metrics(run_id: int, version: tuple) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """The Run page's epochs, gradients and forward signal of one run, in one snapshot; cached per `version`
    (`run_version`): a live page re-reads them only after an epoch is recorded or the status moves."""
    with session() as s:
        return frames.epochs_frame(s, [run_id]), frames.gradients_frame(s, [run_id]), frames.signals_frame(s, [run_id])


@st.cache_data(show_spinner=False, max_entries=16, ttl=3600)
def load_run_steps(run_id: int, version: tuple) -> pd.DataFrame:
    """The Run page's per-step points of one run, cached per `version` (`progress_version`): re-read after each
    write of new points, so a live curve moves within an epoch."""
    with session() as s:
        return frames.steps_frame(s, [run_id])


@st.cache_data(show_spinner=False, max_entries=4, ttl=3600)
def load_cost_epochs(run_ids: tuple[int, ...], versions: tuple) -> pd.DataFrame:
    """Every epoch of the runs, for the Launch page's cost estimate; cached like load_compare, so that a rerun
    of the form reads no epoch."""
    with session() as s:
        return frames.epochs_frame(s, run_ids)


FLOW_COLUMNS = ("run_id", "epoch", "layer_index", "layer", "abs_mean_last")  # what the gradient charts read


def fetch_compare(s: Session, run_ids: Iterable[int]) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """The Compare page's reads: every epoch; gradients (FLOW_COLUMNS) at the epochs its charts show
    (charts.HEATMAP_EPOCHS evenly spaced, plus each run's latest); first/last layer values at every epoch."""
    ids = [int(i) for i in run_ids]
    epochs = frames.epochs_frame(s, ids)
    shown = set(charts.pick_epochs(epochs["epoch"].tolist(), charts.HEATMAP_EPOCHS))
    shown |= set(epochs.groupby("run_id")["epoch"].max().tolist())
    grads = frames.gradients_frame(s, ids, epochs=sorted(shown), columns=FLOW_COLUMNS)
    return epochs, grads, frames.gradient_ends_frame(s, ids)


@st.cache_data(show_spinner=False, max_entries=16, ttl=3600)
def load_compare(run_ids: tuple[int, ...], versions: tuple) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """fetch_compare, cached per `versions` (the runs' epochs_done): a live page re-reads only after a write."""
    with session() as s:
        return fetch_compare(s, run_ids)


@st.cache_data(show_spinner=False, max_entries=32, ttl=3600)
def load_epoch_gradients(run_ids: tuple[int, ...], epoch: int, versions: tuple) -> pd.DataFrame:
    """One epoch's gradient rows (FLOW_COLUMNS) of several runs, cached like load_compare."""
    with session() as s:
        return frames.gradients_frame(s, run_ids, epochs=[epoch], columns=FLOW_COLUMNS)


@st.cache_data(show_spinner=False, max_entries=16, ttl=3600)
def load_latest_why(latest: tuple[tuple[int, int], ...], versions: tuple) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Compare's "why it vanishes" reads: the forward signal and the gradient rows (every column) of each run in
    `latest` ((run_id, its latest epoch) pairs) at that epoch; cached like load_compare."""
    epoch_of = dict(latest)
    with session() as s:
        signals = frames.signals_frame(s, list(epoch_of), epochs=sorted(set(epoch_of.values())))
        grads = frames.gradients_frame(s, list(epoch_of), epochs=sorted(set(epoch_of.values())))
    return tuple(f[f["epoch"] == f["run_id"].map(epoch_of)].reset_index(drop=True) for f in (signals, grads))


def load_table1(picks: Mapping[int, int] | None = None) -> pd.DataFrame:
    """The Results page's Table 1 (table1_frame): every run, then the epochs of the runs standing for the rows
    (`picks`: the user's choice per row, else table1.CHOICE_RULE)."""
    with session() as s:
        runs = frames.runs_frame(s, extra=("config",))
        matched = sorted(set(table1_runs(runs, picks).values()))
        return table1_frame(runs, frames.epochs_frame(s, matched), picks)


def load_table1_seeds() -> tuple[pd.DataFrame, pd.DataFrame]:
    """Table 1 over seeds: (per-seed rows, aggregate by model and lr), `seeds.table1_seed_rows`."""
    with session() as s:
        runs = frames.runs_frame(s, extra=("config",))
        rows = table1_seed_rows(runs, frames.epochs_frame(s, table1_seed_run_ids(runs)))
    return rows, aggregate_seeds(rows, ["model", "lr"])


def load_sweeps() -> pd.DataFrame:
    """Every depth sweep, newest first (worker.frames.SWEEP_COLUMNS)."""
    with session() as s:
        return frames.sweeps_frame(s)


def load_sweep_points(sweep_id: int) -> pd.DataFrame:
    """A sweep's points with their ratio (worker.frames.sweep_points_frame)."""
    with session() as s:
        return frames.sweep_points_frame(s, sweep_id)


def load_landscapes() -> pd.DataFrame:
    """Every loss landscape, newest first (worker.frames.LANDSCAPE_COLUMNS)."""
    with session() as s:
        return frames.landscapes_frame(s)


def load_landscape_points(landscape_ids: Iterable[int]) -> pd.DataFrame:
    """The landscapes' points in grid order (worker.frames.landscape_points_frame)."""
    with session() as s:
        return frames.landscape_points_frame(s, landscape_ids)
