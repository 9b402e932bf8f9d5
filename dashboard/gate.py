"""What every page checks before it draws anything: the dashboard password and the settings."""

from __future__ import annotations

import hmac
import logging
import os
import threading
import time

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
