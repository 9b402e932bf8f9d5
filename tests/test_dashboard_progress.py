"""dashboard.progress: the progress text, fraction and ETA that the Run page and the Runs table draw, from whole
epochs (the mean epoch time) and from the step inside the current epoch (worker.progress's StepWriter writes it:
test_progress.py); and the Runs table's step and ETA columns drawn from them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest

from dashboard import display, progress, runs_table
from tests.dashboard_support import runs_frame


def epoch_run(status, done=2, total=10):
    return dict(status=status, epochs_done=done, epochs_total=total)


def test_progress_running_has_eta_from_mean_epoch_time():
    fraction, text = progress.bar(epoch_run("running"), [10.0, 20.0])
    assert fraction == pytest.approx(0.2)
    assert text == "Epoch 2 of 10 · ETA 2 min 00 s"


def test_progress_running_before_first_epoch():
    assert progress.bar(epoch_run("running", done=0), []) == (0.0, "Epoch 0 of 10 · ETA after the first epoch")


def test_progress_queued_and_finished():
    assert "waiting for a worker" in progress.bar(epoch_run("queued", done=0), [])[1]
    fraction, text = progress.bar(epoch_run("completed", done=10), [3.0] * 10)
    assert fraction == 1.0 and text == "Epoch 10 of 10 · completed · trained for 30 s"
    assert progress.bar(epoch_run("diverged", done=3), [1.0])[1].startswith("Epoch 3 of 10 · diverged")


NOW = datetime(2026, 11, 29, 12, 0, 0, tzinfo=UTC)


def run(done: int = 2, step: int = 0, steps: int | None = None, since_s: float = 0.0, status: str = "running") -> dict:
    started = NOW - timedelta(seconds=since_s) if steps else None
    return dict(id=1, status=status, epochs_done=done, epochs_total=10, epoch_step=step, epoch_steps=steps,
                epoch_started_at=started)  # fmt: skip


def test_progress_inside_the_epoch_before_any_epoch_finished() -> None:
    # 11 steps done after the first, in 22 s: 2 s a step; 89 steps left of this epoch, then 9 epochs of 100 steps.
    fraction, text = progress.bar(run(done=0, step=12, steps=100, since_s=22), [], now=NOW)
    assert fraction == pytest.approx(0.012)
    assert text == f"Epoch 1 of 10 · step 12 of 100 · ETA {display.fmt_duration(2 * 88 + 9 * 200)}"


def test_progress_inside_a_later_epoch_uses_the_mean_epoch_time_after_it() -> None:
    fraction, text = progress.bar(run(done=2, step=51, steps=100, since_s=100), [150.0, 250.0], now=NOW)
    assert fraction == pytest.approx(0.251)
    assert text.endswith(f"Epoch 3 of 10 · step 51 of 100 · ETA {display.fmt_duration(2 * 49 + 7 * 200)}")


def test_first_step_alone_gives_no_rate_yet() -> None:
    assert progress.bar(run(done=0, step=1, steps=100), [], now=NOW)[1] == (
        "Epoch 1 of 10 · step 1 of 100 · ETA after the first epoch")  # fmt: skip
    assert progress.run_eta(run(done=2, step=1, steps=100), 30.0, NOW) == pytest.approx(240.0)


def test_runs_table_shows_the_step_and_its_eta() -> None:
    runs = pd.DataFrame([run(done=2, step=51, steps=100, since_s=100)]).assign(
        name="", label="VGG38", group_name=None, tags=[[]], best_val_acc=None, params=1, device="cpu",
        created_at=NOW)  # fmt: skip
    epochs = pd.DataFrame(dict(run_id=[1, 1], seconds=[150.0, 250.0]))
    etas = progress.eta_seconds(runs, epochs, now=NOW)
    assert etas == {1: pytest.approx(2 * 49 + 7 * 200)}
    table = runs_table.runs_table(runs, etas, pd.Series(dtype=bool), display.fmt_duration)
    assert table["epochs"].tolist() == ["Epoch 3 of 10 · step 51 of 100"]
    assert table["progress"].tolist() == [pytest.approx(0.251)]
    assert table["eta"].tolist() == [display.fmt_duration(2 * 49 + 7 * 200)]
    finished = runs.assign(status="completed", epochs_done=10)
    assert runs_table.runs_table(finished, {}, pd.Series(dtype=bool), str)["epochs"].tolist() == ["Epoch 10 of 10"]


def test_eta_from_mean_epoch_time():
    runs = runs_frame([dict(preset="vgg08", status="running", epochs_done=2, epochs_total=10), dict(preset="vgg08")])
    epochs = pd.DataFrame(dict(run_id=[1, 1, 2], seconds=[10.0, 20.0, 5.0]))
    assert progress.eta_seconds(runs, epochs) == {1: pytest.approx(120.0)}
