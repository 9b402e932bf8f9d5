"""User text is shown as typed, never as Markdown: run names, groups, reasons and query parameters on every page
(a remote image or a link in a run name must stay text), and query parameters are parsed strictly."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from dashboard.display import plain
from dashboard.reads import parse_run_id
from tests.dashboard_support import add_run, open_page

pytestmark = pytest.mark.pages  # SQLite only: see tests/conftest.py

PAYLOAD = "![](https://x.example/pixel) [t](https://evil.example) :red[x] $x$ <b>y</b>"
RAW = ("![](", "[t](", ":red[", "$x$", "<b>")  # what Markdown would act on, were it left unescaped


def markdown_bodies(at: AppTest) -> list[str]:
    """Everything on the page that Streamlit renders as Markdown."""
    kinds = ("title", "header", "subheader", "markdown", "caption", "error", "warning", "info", "success")
    return [str(e.value) for kind in kinds for e in getattr(at, kind)]


def assert_plain(at: AppTest, shown: str) -> None:
    assert not at.exception, at.exception
    bodies = markdown_bodies(at)
    for body in bodies:
        assert not any(raw in body for raw in RAW), body
    assert any(plain(shown) in body for body in bodies), bodies  # still shown, as typed


@pytest.mark.usefixtures("env")
def test_run_page_shows_names_and_reasons_as_typed() -> None:
    run_id = add_run(status="failed", name=PAYLOAD, reason=f"RuntimeError: {PAYLOAD}", kind="vanishing")
    at = open_page("views/run.py", run=run_id)
    assert_plain(at, PAYLOAD)
    assert any(plain(f"RuntimeError: {PAYLOAD}") in e.value for e in at.error)


@pytest.mark.usefixtures("env")
def test_compare_page_shows_names_as_typed() -> None:
    add_run(preset="vgg08", name=PAYLOAD, kind="vanishing")
    add_run(preset="vgg38", layers=39, name="ok", kind="vanishing")
    at = open_page("views/compare.py")
    assert at.warning  # the vanishing flag names both runs
    assert_plain(at, PAYLOAD)


@pytest.mark.usefixtures("env")
def test_query_parameter_is_parsed_strictly_and_shown_as_typed() -> None:
    newest = add_run(name="plain")
    for asked in ("²", "1²", "٣", " 1", "1e3", "99999999999999999999999", PAYLOAD):
        at = open_page("views/run.py", run=asked)
        assert not at.exception, (asked, at.exception)
        (warning,) = at.warning
        assert "There is no run" in warning.value and not any(raw in warning.value for raw in RAW)
        assert at.selectbox[0].value == newest


def test_parse_run_id_takes_ascii_digits_only() -> None:
    assert parse_run_id("42") == 42 and parse_run_id("007") == 7 and parse_run_id(str(2**31 - 1)) == 2**31 - 1
    for bad in (None, "", "²", "٣", "4²", "-1", "+1", " 1", "1 ", "1.0", "1" * 19, "0", str(2**31)):
        assert parse_run_id(bad) is None, bad


@pytest.mark.usefixtures("env")
def test_sweep_page_shows_a_failure_reason_and_a_skip_note_as_typed() -> None:
    """A sweep's reason can quote a name from a hostile CIFAR pickle (issue 17.8): it was an unescaped st.caption."""
    from vgp_models.sweep import SweepPoint
    from vgp_models.sweep_config import SweepConfig
    from worker import db, sweeps
    from worker.schema import RunStatus

    with db.session_scope() as s:
        sweep_id = sweeps.create_sweep(s, SweepConfig(depths=(8,), cures=("none",), seeds=1)).id
        sweeps.record_cell(s, sweep_id, [SweepPoint("none", 8, 0, note=PAYLOAD)], 1)
        sweeps.transition_sweep(s, sweep_id, (RunStatus.QUEUED,), RunStatus.FAILED, f"DataError: {PAYLOAD}")
    at = open_page("views/sweep.py")
    assert_plain(at, f"DataError: {PAYLOAD}")
    assert any(f"Skipped: {plain(PAYLOAD)}" in c.value for c in at.caption)
