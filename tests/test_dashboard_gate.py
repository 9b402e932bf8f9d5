"""dashboard.gate: the optional dashboard password (VGP_DASHBOARD_PASSWORD), under Streamlit's AppTest: asked before any
page, and each wrong password waits longer in every session."""

from __future__ import annotations

import threading
import time

import pytest
from streamlit.testing.v1 import AppTest

from tests.env_support import REPO

APP = str(REPO / "dashboard" / "app.py")
pytestmark = pytest.mark.pages  # SQLite only: see tests/conftest.py

SECRET = "c0rrect horse ✓"


def app() -> AppTest:
    at = AppTest.from_file(APP, default_timeout=30).run()
    assert not at.exception, at.exception
    return at


def page_shown(at: AppTest) -> bool:
    return any(t.value == "Launch a run" for t in at.title)


def test_no_password_set_means_no_prompt(env: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("VGP_DASHBOARD_PASSWORD", raising=False)
    at = app()
    assert page_shown(at) and not [t for t in at.text_input if t.key == "_vgp_password"]


def test_every_page_asks_for_the_password_first(env: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VGP_DASHBOARD_PASSWORD", SECRET)
    at = app()
    (prompt,) = at.text_input
    assert prompt.key == "_vgp_password" and prompt.proto.type == prompt.proto.PASSWORD
    assert not page_shown(at)
    for page in ("views/runs.py", "views/run.py"):  # a direct page visit is gated too
        at.switch_page(page).run()
        assert not at.exception and not at.dataframe and not at.get("progress")
        assert [t.key for t in at.text_input] == ["_vgp_password"]

    at.text_input(key="_vgp_password").input("wrong").run()
    assert [e.value for e in at.error] == ["Wrong password."] and not page_shown(at)
    at.text_input(key="_vgp_password").input(SECRET[:-1]).run()  # a prefix is not enough
    assert not page_shown(at)

    at.switch_page("views/launch.py")
    at.text_input(key="_vgp_password").input(SECRET).run()
    assert not at.exception, at.exception
    assert page_shown(at) and not at.error
    assert not [t for t in at.text_input if t.key == "_vgp_password"]
    everything = " ".join(str(e.value) for e in [*at.markdown, *at.title, *at.caption, *at.error, *at.text_input])
    assert SECRET not in everything  # shown nowhere

    at.switch_page("views/runs.py").run()  # signed in for the rest of the session
    assert not at.exception and not [t for t in at.text_input if t.key == "_vgp_password"]
    assert not page_shown(app())  # a new session asks again


def test_each_wrong_password_waits_longer_in_every_session(env: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VGP_DASHBOARD_PASSWORD", SECRET)
    app().text_input(key="_vgp_password").input(SECRET).run()  # a right password resets the count
    waits = []
    for guess in ("guess-1", "guess-2", "guess-3"):
        at = app()  # a new session for each guess: starting over does not reset the delay
        start = time.monotonic()
        at.text_input(key="_vgp_password").input(guess).run()
        waits.append(time.monotonic() - start)
        assert [e.value for e in at.error] == ["Wrong password."] and not page_shown(at)
    assert waits[0] >= 1.0 and waits[1] >= 2.0 and waits[2] >= 4.0, waits
    at = app()
    at.text_input(key="_vgp_password").input(SECRET).run()
    assert page_shown(at)


def test_wrong_guessers_never_delay_the_right_password() -> None:
    """Issue 17.14: one global counter, its lock held while a wrong guess slept, kept the right user waiting."""
    from dashboard.gate import PasswordGate

    gate = PasswordGate()
    answers: list[str | None] = []
    guessers = [
        threading.Thread(target=lambda c=c: answers.extend(gate.check(c, "guess", SECRET) for _ in range(2)))
        for c in ("10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4")
    ]
    for t in guessers:
        t.start()
    time.sleep(0.3)  # all four are in their first delay
    for user in ("10.0.0.9", "10.0.0.1"):  # another client, and a guesser's own address typing it right
        start = time.monotonic()
        assert gate.check(user, SECRET, SECRET) is None
        assert time.monotonic() - start < 0.3
    for t in guessers:
        t.join()
    assert answers == ["Wrong password."] * 8


def test_the_delay_doubles_per_client_and_a_cap_bounds_all_checks() -> None:
    from dashboard.gate import BUSY, WRONG, PasswordGate

    gate = PasswordGate()
    gate.FIRST_DELAY_S, gate.ATTEMPTS_PER_MINUTE, gate.WINDOW_S = 0.1, 5, 1.5

    def timed(client: str, entered: str) -> tuple[str | None, float]:
        start = time.monotonic()
        return gate.check(client, entered, SECRET), time.monotonic() - start

    (a1, wa1), (a2, wa2), (b1, wb1) = timed("a", "x"), timed("a", "y"), timed("b", "z")
    assert a1 == a2 == b1 == WRONG
    assert 0.1 <= wa1 < 0.2 and 0.2 <= wa2 < 0.3 and 0.1 <= wb1 < 0.2  # b's first guess is not a's third
    assert timed("c", "w")[0] == WRONG and timed("d", SECRET)[0] is None  # 5 checks: the cap is reached
    refused, waited = timed("e", SECRET)
    assert refused == BUSY and waited < 0.05  # refused unchecked, at once: parallel guessing gains nothing
    time.sleep(1.5)  # the window frees its slots
    assert timed("e", SECRET)[0] is None
