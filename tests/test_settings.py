"""worker.settings: the reliability timings and budgets read from the environment, checked at start.

Every bad setting failing in one line, and submit, the worker and the dashboard refusing one: test_integrity.py.
"""

from __future__ import annotations

import pytest

from worker.settings import Settings


def test_settings_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HEARTBEAT_S", "STALE_AFTER_S", "SWEEP_INTERVAL_S", "CANCEL_GRACE_S", "AUTO_RESUMES"):
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
