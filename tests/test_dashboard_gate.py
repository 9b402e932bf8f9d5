"""dashboard.gate: the optional dashboard password (VGP_DASHBOARD_PASSWORD), under Streamlit's AppTest: asked before any
page, and each wrong password waits longer in every session."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from tests.reliability_support import REDIS_URL, REPO, drop_queue
from worker import db

APP = str(REPO / "dashboard" / "app.py")
SECRET = "c0rrect horse ✓"


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    url = f"sqlite:///{tmp_path / 'vgp.db'}"
    name = f"vgp-test-dash-{uuid.uuid4().hex[:8]}"
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setenv("REDIS_URL", REDIS_URL)
    monkeypatch.setenv("VGP_QUEUE", name)
    db.upgrade_database(url)
    yield
    drop_queue(name)
    db.dispose_engines()


def app() -> AppTest:
    at = AppTest.from_file(APP, default_timeout=30).run()
    assert not at.exception, at.exception
    return at


def page_shown(at: AppTest) -> bool:
    return any(t.value == "Launch a run" for t in at.title)


def test_no_password_set_means_no_prompt(env: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("VGP_DASHBOARD_PASSWORD", raising=False)
    at = app()
    assert page_shown(at) and not [t for t in at.text_input if t.key == "_vgp_password"]


def test_every_page_asks_for_the_password_first(env: None, monkeypatch: pytest.MonkeyPatch) -> None:
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


def test_each_wrong_password_waits_longer_in_every_session(env: None, monkeypatch: pytest.MonkeyPatch) -> None:
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
