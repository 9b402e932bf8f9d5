"""What every page checks before it draws anything: the dashboard password and the settings."""

from __future__ import annotations

import hmac
import logging
import os
import threading
import time
from collections import deque

import streamlit as st

from dashboard.display import plain
from worker import store
from worker.settings import check_environment


def settings_ok() -> bool:
    """True when every setting parses (`worker.settings.check_environment`); otherwise say which one is bad."""
    try:
        check_environment()
    except ValueError as error:
        st.error(plain(f"VGP Lab cannot start: {store.squash(error, 300)}"), icon=":material/error:")
        return False
    return True


class PasswordGate:
    """Checks the dashboard password for every session of this server process.

    Each wrong password from a client (its address; every session of it) costs a delay that doubles with each
    further one (FIRST_DELAY_S, 2x, 4x, ... up to MAX_DELAY_S) until a right one from it; the delay is slept
    outside the lock, so one client's wrong guesses never keep another's right password waiting. Clients that
    guess in parallel (many addresses or sessions) meet a cap on all checks together: past ATTEMPTS_PER_MINUTE
    in the last minute, an entry is refused unchecked until the minute frees a slot."""

    FIRST_DELAY_S = 1.0
    MAX_DELAY_S = 60.0
    ATTEMPTS_PER_MINUTE = 30
    WINDOW_S = 60.0  # the cap's minute
    FORGET_AFTER_S = 3600.0  # a client silent this long starts again at FIRST_DELAY_S

    def __init__(self) -> None:
        self._lock = threading.Lock()  # guards the two fields below; never held while sleeping
        self._failures: dict[str, tuple[int, float]] = {}  # client -> (wrong answers in a row, when the last was)
        self._recent: deque[float] = deque()  # when each check of the last minute was made

    def check(self, client: str, entered: str, expected: str) -> str | None:
        """None when `entered` is the password; otherwise the line to show: WRONG, or BUSY (the cap: not checked)."""
        now = time.monotonic()
        with self._lock:
            while self._recent and now - self._recent[0] >= self.WINDOW_S:
                self._recent.popleft()
            if len(self._recent) >= self.ATTEMPTS_PER_MINUTE:
                return BUSY
            self._recent.append(now)
            if hmac.compare_digest(entered.encode(), expected.encode()):
                self._failures.pop(client, None)
                return None
            self._failures = {c: f for c, f in self._failures.items() if now - f[1] < self.FORGET_AFTER_S}
            failures = self._failures.get(client, (0, now))[0] + 1
            self._failures[client] = (failures, now)
        delay = min(self.FIRST_DELAY_S * 2 ** (failures - 1), self.MAX_DELAY_S)
        logging.getLogger(__name__).warning("dashboard: wrong password #%d from %s, answered in %g s",
                                            failures, client, delay)  # fmt: skip
        time.sleep(delay)  # this session's thread only: the lock is free
        return WRONG


WRONG = "Wrong password."
BUSY = "Too many password attempts on this server in the last minute; try again in a minute."
PASSWORD_GATE = PasswordGate()  # one per server process: a module is imported once, pages are rerun


def client() -> str:
    """Who is guessing: the browser's address (behind a proxy on 127.0.0.1, the X-Forwarded-For uvicorn trusts)."""
    address = st.context.ip_address  # None when unknown (and not a str under AppTest)
    return address if isinstance(address, str) and address else "unknown address"


def password_ok() -> bool:
    """True when VGP_DASHBOARD_PASSWORD is unset or this session entered it; otherwise ask for it (and False)."""
    expected = os.environ.get("VGP_DASHBOARD_PASSWORD", "")
    if not expected or st.session_state.get("_vgp_signed_in") is True:
        return True
    st.title("VGP Lab")
    entered = st.text_input("Password", type="password", key="_vgp_password")
    if entered:
        refusal = WRONG
        if st.session_state.get("_vgp_refused") != entered:  # a wrong entry is checked once, not at every rerun
            refusal = PASSWORD_GATE.check(client(), entered, expected)
            if refusal is None:
                st.session_state["_vgp_signed_in"] = True
                st.rerun()
            if refusal == WRONG:  # the cap's refusal checked nothing: the same entry is checked on the next try
                st.session_state["_vgp_refused"] = entered
        st.error(BUSY if refusal == BUSY else WRONG, icon=":material/lock:")
    return False
