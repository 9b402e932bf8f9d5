"""worker.settings: the reliability timings and budgets read from the environment, checked at start.

Every bad setting failing in one line, and submit, the worker and the dashboard refusing one: test_integrity.py.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from worker.settings import Settings, check_environment

REPO = Path(__file__).resolve().parents[1]


def test_settings_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HEARTBEAT_S", "STALE_AFTER_S", "RECONCILE_INTERVAL_S", "SWEEP_INTERVAL_S", "CANCEL_GRACE_S",
                 "AUTO_RESUMES"):  # fmt: skip
        monkeypatch.delenv(f"VGP_{name}", raising=False)
    assert Settings.from_env() == Settings()
    monkeypatch.setenv("VGP_HEARTBEAT_S", "2")
    monkeypatch.setenv("VGP_STALE_AFTER_S", "5")
    monkeypatch.setenv("VGP_AUTO_RESUMES", "3")
    s = Settings.from_env()
    assert (s.heartbeat_s, s.stale_after_s, s.auto_resumes, s.worker_heartbeat_s) == (2.0, 5.0, 3, 2)
    monkeypatch.setenv("VGP_STALE_AFTER_S", "3")
    with pytest.raises(ValueError, match="at least twice"):
        Settings.from_env()
    monkeypatch.setenv("VGP_STALE_AFTER_S", "soon")
    with pytest.raises(ValueError, match="VGP_STALE_AFTER_S must be a number"):
        Settings.from_env()


def settings_in_a_fresh_process(**variables: str) -> subprocess.CompletedProcess:
    """Read the settings twice in a new process (the notice is once per process); print the interval."""
    env = {k: v for k, v in os.environ.items() if k not in ("VGP_RECONCILE_INTERVAL_S", "VGP_SWEEP_INTERVAL_S")}
    code = "from worker.settings import Settings; Settings.from_env(); print(Settings.from_env().reconcile_interval_s)"
    return subprocess.run([sys.executable, "-c", code], cwd=REPO, env={**env, **variables}, capture_output=True,
                          text=True, timeout=60, check=True)  # fmt: skip


def test_the_old_name_of_the_reconcile_interval_is_read_with_one_notice() -> None:
    done = settings_in_a_fresh_process(VGP_SWEEP_INTERVAL_S="3")
    assert done.stdout == "3.0\n"
    assert done.stderr == (
        "VGP_SWEEP_INTERVAL_S is deprecated: rename it VGP_RECONCILE_INTERVAL_S (its value is used meanwhile)\n"
    )


def test_the_new_name_of_the_reconcile_interval_wins_and_the_notice_says_so() -> None:
    done = settings_in_a_fresh_process(VGP_SWEEP_INTERVAL_S="3", VGP_RECONCILE_INTERVAL_S="7")
    assert done.stdout == "7.0\n"
    assert done.stderr == (
        "VGP_SWEEP_INTERVAL_S is deprecated and ignored: VGP_RECONCILE_INTERVAL_S is set too and wins; "
        "remove VGP_SWEEP_INTERVAL_S\n"
    )
    assert settings_in_a_fresh_process(VGP_RECONCILE_INTERVAL_S="7").stderr == ""


@pytest.mark.parametrize("new", [None, "7"])
def test_the_old_name_is_checked_in_range_even_when_the_new_one_wins(
    monkeypatch: pytest.MonkeyPatch, new: str | None
) -> None:
    monkeypatch.setenv("VGP_SWEEP_INTERVAL_S", "1e-9")
    if new is None:
        monkeypatch.delenv("VGP_RECONCILE_INTERVAL_S", raising=False)
    else:
        monkeypatch.setenv("VGP_RECONCILE_INTERVAL_S", new)
    with pytest.raises(ValueError, match=r"^VGP_SWEEP_INTERVAL_S must be from 0.5 to 86400, got 1e-09$"):
        check_environment()
