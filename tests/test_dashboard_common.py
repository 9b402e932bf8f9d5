"""Display helpers of dashboard.common: durations, the progress line, run titles, error lines."""

from __future__ import annotations

import pytest
from sqlalchemy.exc import OperationalError

from dashboard import common
from vgp_models.config import ConfigError
from worker.queue import QueueError


@pytest.mark.parametrize(
    "seconds,text",
    [
        (None, "?"),
        (-1, "?"),
        (float("nan"), "?"),
        (0.46, "0.5 s"),
        (45, "45 s"),
        (200, "3 min 20 s"),
        (7500, "2 h 05 min"),
    ],
)
def test_fmt_duration(seconds, text):
    assert common.fmt_duration(seconds) == text


def run(status, done=2, total=10):
    return dict(status=status, epochs_done=done, epochs_total=total)


def test_progress_running_has_eta_from_mean_epoch_time():
    fraction, text = common.progress(run("running"), [10.0, 20.0])
    assert fraction == pytest.approx(0.2)
    assert text == "Epoch 2 of 10 · ETA 2 min 00 s"


def test_progress_running_before_first_epoch():
    assert common.progress(run("running", done=0), []) == (0.0, "Epoch 0 of 10 · ETA after the first epoch")


def test_progress_queued_and_finished():
    assert "waiting for a worker" in common.progress(run("queued", done=0), [])[1]
    fraction, text = common.progress(run("completed", done=10), [3.0] * 10)
    assert fraction == 1.0 and text == "Epoch 10 of 10 · completed · trained for 30 s"
    assert common.progress(run("diverged", done=3), [1.0])[1].startswith("Epoch 3 of 10 · diverged")


def test_run_title_hides_default_name():
    config = {"depth": 38, "batch_norm": True, "residual": True}
    assert common.run_title(dict(id=3, name="VGG38 BN+RC", config=config)) == "#3 VGG38 BN+RC"
    assert common.run_title(dict(id=3, name="sweep-a", config=config)) == "#3 sweep-a · VGG38 BN+RC"
    assert common.run_title(dict(id=4, name=None, config={"depth": 9})) == "#4 ?"


def test_expected_errors():
    assert common.is_expected(ConfigError("x"))
    assert common.is_expected(QueueError("redis down"))
    assert common.is_expected(OperationalError("SELECT 1", {}, Exception("no such table: runs")))
    assert not common.is_expected(KeyError("bug"))
    assert common.one_line(OperationalError("SELECT 1", {}, Exception("boom"))).count("\n") == 0
