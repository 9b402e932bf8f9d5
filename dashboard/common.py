"""What every page shares: the cached engine, store reads as plain data, one-line errors, formatting.

Pages import this and `charts`; the store, the queue and CSV exports are reached through `worker`
(never torch, never rq).
"""

from __future__ import annotations

import hmac
import logging
import math
import os
import re
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import pandas as pd
import streamlit as st
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from dashboard import analysis
from vgp_models.config import ConfigError, RunConfig
from vgp_models.sweep_config import SweepConfig
from worker import cancellation, connection, db, frames, reconcile, schema, store, submission, sweeps
from worker.settings import Settings, check_environment

ACTIVE = frozenset({"queued", "running"})  # statuses that can still change: pages refresh while in one
LIVE_S = 1.0  # how often a page showing an active run re-reads the store: an epoch shows within ~1.5 s
STATUS_COLOURS = {
    "queued": "gray",
    "running": "blue",
    "completed": "green",
    "failed": "red",
    "cancelled": "orange",
    "diverged": "violet",
    "interrupted": "yellow",
}
STATUS_ICONS = {
    "queued": ":material/schedule:",
    "running": ":material/autorenew:",
    "completed": ":material/check_circle:",
    "failed": ":material/error:",
    "cancelled": ":material/cancel:",
    "diverged": ":material/trending_up:",
    "interrupted": ":material/power_off:",
}


# ---- expected failures ---------------------------------------------------------------------------


def one_line(error: BaseException | str) -> str:
    """The first line of an error's message (SQLAlchemy appends SQL and a URL on later lines)."""
    text = str(error).strip() or type(error).__name__
    return text.splitlines()[0]


MIGRATE_HINT = " (is the database migrated? run `python -m worker migrate`)"
_UNMIGRATED = ("no such table", "no such column", "does not exist")  # SQLite's and Postgres' words


MARKDOWN_SPECIALS = re.compile(r"([!-/:-@\[-`{-~])")  # every ASCII punctuation mark; CommonMark escapes each
AUTOLINK_STARTS = re.compile(r"(?i)(?=https?:|www\.|@)")
WORD_JOINER = "\u2060"  # invisible, and neither a space nor punctuation: no autolink may start right after it


def plain(text: object) -> str:
    """`text` for a Streamlit element that renders Markdown (headers, captions, alerts, help), shown as typed.

    Run names, tags, notes, group names, query parameters and error messages come from users: unescaped,
    `![](https://x/pixel)` would load a remote image, `[t](https://evil)` make a link, `:red[...]` or `$...$`
    restyle the page. A backslash before every ASCII punctuation mark leaves nothing for Markdown to parse.
    Streamlit also turns bare `https://...`, `www....` and e-mail addresses into links after parsing, in the
    text itself, so an invisible word joiner goes before each of those.
    """
    return MARKDOWN_SPECIALS.sub(r"\\\1", AUTOLINK_STARTS.sub(WORD_JOINER, str(text)))


def show_error(error: BaseException | str, prefix: str = "") -> None:
    """One `st.error` line for a failure the user can act on, instead of a traceback."""
    text = plain(one_line(error))
    if isinstance(error, SQLAlchemyError) and any(words in text for words in _UNMIGRATED):
        text += MIGRATE_HINT
    st.error(f"{prefix}{text}", icon=":material/error:")


def is_expected(error: BaseException) -> bool:
    """Failures of configuration or of the services around the app, not bugs: shown as one line."""
    if isinstance(error, (ConfigError, SQLAlchemyError, OSError, connection.QueueError, store.RunNotFound)):
        return True
    # redis' own exception classes, without importing redis here.
    return any(cls.__module__.startswith("redis") for cls in type(error).__mro__)


@contextmanager
def guard(prefix: str = "") -> Iterator[None]:
    """Run a block; an expected failure becomes one `st.error` line and stops the page (or fragment)."""
    try:
        yield
    except Exception as error:  # noqa: BLE001 - re-raised unless expected
        if not is_expected(error):
            raise
        show_error(error, prefix)
        st.stop()


# ---- store and queue -----------------------------------------------------------------------------


@contextmanager
def session() -> Iterator[Session]:
    """A read-only session on DATABASE_URL whose queries see one snapshot, so that a page never shows more
    epochs of gradients than of metrics; worker.db caches the engine per URL (tests point elsewhere)."""
    with db.read_scope(db.database_url()) as s:
        yield s


def database_banner() -> None:
    """While the database does not answer, one warning on top of every page (each page then shows one error
    line for what it could not read, never a traceback)."""
    if not db.database_available():
        st.warning(
            f"The database ({db.safe_database_url()}) is not answering. Running jobs keep training and write "
            "their epochs once it is back (they wait up to VGP_OUTAGE_S, 300 s by default); reload to retry.",
            icon=":material/cloud_off:",
        )


def queue_available() -> bool:
    """Whether Redis answers, so that a run can be queued."""
    try:
        return bool(connection.redis_available())
    except Exception as error:  # noqa: BLE001
        if is_expected(error):
            return False
        raise


def submit(config: RunConfig, meta: store.RunMeta | None = None) -> int:
    """Queue a run; returns its id."""
    return int(submission.submit_run(config, meta))


MAX_SEEDS = submission.MAX_SEEDS


def seeds_group(config: RunConfig, seeds: int) -> str:
    """The group name for `seeds` repeats of `config`, stamped now."""
    return submission.seeds_group(config, seeds, datetime.now())


def submit_seeds(config: RunConfig, seeds: int, meta: store.RunMeta | None = None) -> list[int]:
    """Queue `seeds` runs of `config` that differ only in seed, as one group (one seed: a plain run); their ids."""
    return [int(i) for i in submission.submit_seeds(config, int(seeds), meta)]


def submit_sweep(config: SweepConfig) -> int:
    """Queue a depth sweep; returns its id."""
    return int(submission.submit_sweep(config))


def cancel_sweep(sweep_id: int) -> str:
    """Cancel a queued or running sweep; returns its status afterwards."""
    return str(cancellation.cancel_sweep(sweep_id).value)


def load_sweeps() -> pd.DataFrame:
    """Every depth sweep, newest first (worker.sweeps.SWEEP_COLUMNS)."""
    with session() as s:
        return sweeps.sweeps_frame(s)


def load_sweep_points(sweep_id: int) -> pd.DataFrame:
    """A sweep's points with their ratio (worker.sweeps.points_frame)."""
    with session() as s:
        return sweeps.points_frame(s, sweep_id)


def cancel(run_id: int) -> str:
    """Cancel a run (a running one stops within about a second); returns its status afterwards."""
    return str(cancellation.cancel_run(run_id).value)


def resume(run_id: int) -> None:
    """Queue an interrupted, failed or cancelled run again, from its last checkpoint."""
    submission.resume_run(run_id)


RESUMABLE = frozenset(str(s.value) for s in submission.RESUMABLE)


@st.cache_resource(show_spinner=False)
def _last_sweeps() -> tuple[threading.Lock, dict[tuple[str, str, str], float]]:
    return threading.Lock(), {}


def keep_queue_in_step() -> None:
    """Run worker.reconcile (dead runs interrupted and resumed, jobs Redis lost queued again) at most once per
    VGP_SWEEP_INTERVAL_S per store and queue, in this server process. Silent: failures are only logged, so a
    page still loads while Redis is down, and the queue is rebuilt on the first page load after it is back."""
    lock, last = _last_sweeps()
    key = (db.database_url(), connection.redis_url(), connection.queue_name())
    now = time.monotonic()
    try:
        interval = Settings.from_env().sweep_interval_s
    except ValueError:
        interval = Settings().sweep_interval_s
    with lock:
        if now - last.get(key, -math.inf) < interval:
            return
        last[key] = now
    reconcile.reconcile_quietly()


def settings_ok() -> bool:
    """True when every setting parses (`worker.settings.check_environment`); otherwise say which one is bad."""
    try:
        check_environment()
    except ValueError as error:
        st.error(f"VGP Lab cannot start: {store.squash(error, 300)}", icon=":material/error:")
        return False
    return True


class PasswordGate:
    """Checks the dashboard password for every session of this server process. Each wrong password costs a
    delay that doubles with every further one (FIRST_DELAY_S, 2x, 4x, ... up to MAX_DELAY_S) until a right
    one; checks take turns, so parallel sessions cannot guess in parallel either."""

    FIRST_DELAY_S = 1.0
    MAX_DELAY_S = 60.0

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.failures = 0

    def check(self, entered: str, expected: str) -> bool:
        with self._lock:
            if hmac.compare_digest(entered.encode(), expected.encode()):
                self.failures = 0
                return True
            self.failures += 1
            delay = min(self.FIRST_DELAY_S * 2 ** (self.failures - 1), self.MAX_DELAY_S)
            logging.getLogger(__name__).warning("dashboard: wrong password #%d, answered in %g s", self.failures, delay)
            time.sleep(delay)
            return False


PASSWORD_GATE = PasswordGate()  # one per server process: a module is imported once, pages are rerun


def password_ok() -> bool:
    """True when VGP_DASHBOARD_PASSWORD is unset or this session entered it; otherwise ask for it (and False)."""
    expected = os.environ.get("VGP_DASHBOARD_PASSWORD", "")
    if not expected or st.session_state.get("_vgp_signed_in") is True:
        return True
    st.title("VGP Lab")
    entered = st.text_input("Password", type="password", key="_vgp_password")
    if entered:
        if st.session_state.get("_vgp_refused") != entered:  # each entry is checked once, not at every rerun
            if PASSWORD_GATE.check(entered, expected):
                st.session_state["_vgp_signed_in"] = True
                st.rerun()
            st.session_state["_vgp_refused"] = entered
        st.error("Wrong password.", icon=":material/lock:")
    return False


RUN_ID = re.compile(r"[0-9]{1,18}")


def parse_run_id(text: str | None) -> int | None:
    """A run id from a query parameter, or None: ASCII digits only (`isdigit()` also passes '²', which int()
    refuses) and short enough for the database's integer."""
    return int(text) if text is not None and RUN_ID.fullmatch(text) else None


def load_run(run_id: int) -> dict[str, Any] | None:
    """One run as a plain dict of its columns (status as text, `label` added), or None."""
    with session() as s:
        run = store.get_run(s, run_id)
        if run is None:
            return None
        data = {column.key: getattr(run, column.key) for column in schema.Run.__table__.columns}
    data["status"] = str(getattr(data["status"], "value", data["status"]))
    data["label"] = config_label(data.get("config"))
    return data


RUN_EXTRA = ("note", "worker_name", "config", "epoch_step", "epoch_steps", "epoch_started_at")


def load_runs(run_ids: Iterable[int] | None = None) -> pd.DataFrame:
    """All runs (or `run_ids`), newest first: frames.RUN_COLUMNS, RUN_EXTRA and `label` (the config's short name)."""
    with session() as s:
        return frames.runs_frame(s, run_ids, extra=RUN_EXTRA)


def runs_or_stop(title: str | None = None) -> pd.DataFrame:
    """`load_runs()` for a page that needs at least one run: with none, `title`, a pointer to Launch, st.stop()."""
    with guard("Cannot read the runs: "):
        runs = load_runs()
    if runs.empty:
        if title:
            st.title(title)
        st.info("No runs yet.", icon=":material/info:")
        from dashboard import imports  # imports uses this module

        imports.reference_offer()
        st.page_link("views/launch.py", label="Launch one", icon=":material/rocket_launch:")
        st.stop()
    return runs


def load_gradient_ends(run_ids: Iterable[int] | None = None, latest: bool = False) -> pd.DataFrame:
    """First and last weight's mean |grad| per (run, epoch), or per run at its latest epoch: the flag's input."""
    with session() as s:
        return frames.gradient_ends_frame(s, run_ids, latest=latest)


def versions(runs: pd.DataFrame) -> tuple:
    """The database, then (id, epochs_done, status) of each run: what a cached read of their metrics is keyed
    on (the database too, so that a cache never answers for another database's run of the same id)."""
    return (db.database_url(), *((int(r.id), int(r.epochs_done or 0), str(r.status)) for r in runs.itertuples()))


FLOW_COLUMNS = ("run_id", "epoch", "layer_index", "layer", "abs_mean_last")  # what the gradient charts read


def fetch_compare(s: Session, run_ids: Iterable[int]) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """The Compare page's reads: every epoch; gradients (FLOW_COLUMNS) at the epochs its charts show
    (HEATMAP_EPOCHS evenly spaced, plus each run's latest); first/last layer values at every epoch."""
    from dashboard.charts import HEATMAP_EPOCHS, pick_epochs

    ids = [int(i) for i in run_ids]
    epochs = frames.epochs_frame(s, ids)
    shown = set(pick_epochs(epochs["epoch"].tolist(), HEATMAP_EPOCHS))
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


def load_epochs(run_ids: list[int]) -> pd.DataFrame:
    with session() as s:
        return frames.epochs_frame(s, run_ids)


def load_gradients(run_ids: list[int]) -> pd.DataFrame:
    with session() as s:
        return frames.gradients_frame(s, run_ids)


# ---- display -------------------------------------------------------------------------------------


def config_label(config: dict[str, Any] | None) -> str:
    """'VGG38 BN+RC' for a stored config; '?' when it no longer validates."""
    try:
        return RunConfig.from_dict(dict(config or {})).label
    except ConfigError:
        return "?"


def run_title(run: dict[str, Any]) -> str:
    """'#12 my-name · VGG38 BN+RC', or '#12 VGG38 BN+RC' when the name is the label (the default)."""
    label = run.get("label") or config_label(run.get("config"))
    name = run.get("name")
    return f"#{run['id']} {label}" if not name or name == label else f"#{run['id']} {name} · {label}"


def status_badge(status: str) -> None:
    st.badge(status, icon=STATUS_ICONS.get(status), color=STATUS_COLOURS.get(status, "gray"))


def fmt_duration(seconds: float | None) -> str:
    """'2.5 s', '45 s', '3 min 20 s', '2 h 05 min'; '?' when unknown."""
    if seconds is None or not math.isfinite(seconds) or seconds < 0:
        return "?"
    if seconds < 9.95:
        return f"{seconds:.1f} s"
    s = round(seconds)
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s // 3600} h {s % 3600 // 60:02d} min"


def progress(run: dict[str, Any], epoch_seconds: list[float], now: datetime | None = None) -> tuple[float, str]:
    """The progress bar's fraction and text: 'Epoch k of N · step s of S in epoch k+1 · ETA ...' (the ETA from
    the epoch in flight's step rate and the mean epoch time, analysis.run_eta)."""
    done = int(run.get("epochs_done") or 0)
    total = int(run.get("epochs_total") or 0) or 1
    fraction = analysis.run_fraction({**run, "epochs_total": total})
    status = run["status"]
    if status == "queued":
        return fraction, f"Queued: waiting for a worker (epoch {done} of {total} done)"
    text = f"Epoch {done} of {total}"
    mean = sum(epoch_seconds) / len(epoch_seconds) if epoch_seconds else None
    if status == "running":
        if steps := analysis.in_epoch(run):
            text += f" · step {steps[0]} of {steps[1]} in epoch {done + 1}"
        eta = analysis.run_eta(run, mean, now or datetime.now(UTC))
        text += f" · ETA {fmt_duration(eta)}" if eta is not None else " · ETA after the first epoch"
    elif epoch_seconds:
        text += f" · {status} · trained for {fmt_duration(sum(epoch_seconds))}"
    return fraction, text


def pct(value: float | None) -> str:
    return "–" if value is None or pd.isna(value) else f"{100 * value:.2f}%"
