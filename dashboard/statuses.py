"""A run's status as the pages treat it: which exist, which can still change (a page showing one refreshes),
which can be resumed, and the badge that shows each. The statuses themselves are worker.schema.RunStatus."""

from __future__ import annotations

from collections.abc import Callable

import streamlit as st

from worker import submission
from worker.schema import RunStatus

RUN_STATUSES = tuple(s.value for s in RunStatus)
ACTIVE = frozenset(s.value for s in RunStatus if not s.finished)  # pages refresh while a run is in one
RESUMABLE = frozenset(s.value for s in submission.RESUMABLE)
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


def status_badge(status: str) -> None:
    st.badge(status, icon=STATUS_ICONS.get(status), color=STATUS_COLOURS.get(status, "gray"))


def rerun_when_changed(read_version: Callable[[], object], drawn: object) -> None:
    """For a page drawn by full runs while a run is active: a fragment that draws nothing, calls `read_version()`
    every LIVE_S and reruns the page once it differs from `drawn` (the version the page was drawn from). Charts
    that change once an epoch are then drawn once an epoch, not every second."""

    @st.fragment(run_every=LIVE_S)
    def watch() -> None:
        if read_version() != drawn:
            st.rerun()

    watch()
