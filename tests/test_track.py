"""Tracking your own training loop (vgp_models.track) into the real store (SQLite and
Postgres) and into run folders: live rows, end states, Cancel, SIGKILL, outages, bad input."""

from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
import time

import pytest
import torch
from sqlalchemy import func, select
from torch import nn

from tests.cli_support import cli
from tests.track_support import ROOT, batches, builder, tiny_model
from vgp_models.track import Run, RunCancelled, TrackingError, TrackingTypeError
from worker import db, importer, reconcile, submission
from worker.cancellation import cancel_run
from worker.schema import EpochRow, GradientRow, RunOrigin, RunStatus, StepRow
from worker.schema import Run as RunRow
from worker.settings import Settings
from worker.tracking import DatabaseSink


def runs(url: str) -> list[RunRow]:
    with db.session_scope(url) as s:
        return list(s.scalars(select(RunRow).order_by(RunRow.id)))


def count(url: str, table, run_id: int) -> int:
    with db.session_scope(url) as s:
        return s.scalar(select(func.count()).select_from(table).where(table.run_id == run_id))


def train(
    run: Run, model: nn.Module, epochs: int = 2, steps: int = 4, nan_at: int | None = None, watch: bool = True
) -> None:
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    if watch:
        run.watch(model)
    step = 0
    for _ in range(epochs):
        for x, y in batches(steps):
            step += 1
            loss = nn.functional.cross_entropy(model(x), y)
            loss.backward()
            run.step(loss=float("nan") if step == nan_at else loss.item(), lr=0.1)
            optimizer.step()
            optimizer.zero_grad()
        run.epoch(train_loss=1.0, train_acc=0.5, val_loss=1.1, val_acc=0.4)


def test_tracked_run_is_live_while_it_trains_and_completes(store_url):
    seen = {}
    with Run("live", config={"lr": 0.1, "depth": 3}, database=store_url, epochs=3) as run:
        train(run, tiny_model(), epochs=1)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not (runs(store_url) and runs(store_url)[0].epochs_done == 1):
            time.sleep(0.05)
        (row,) = runs(store_url)
        seen.update(status=row.status, origin=row.origin, done=row.epochs_done, total=row.epochs_total)
    assert seen == {"status": RunStatus.RUNNING, "origin": RunOrigin.TRACKED, "done": 1, "total": 3}
    (row,) = runs(store_url)
    assert row.status is RunStatus.COMPLETED and row.reason is None
    assert row.config == {"lr": 0.1, "depth": 3} and row.params == sum(p.numel() for p in tiny_model().parameters())
    assert row.best_epoch == 1 and row.best_val_acc == pytest.approx(0.4) and row.test_acc is None
    assert count(store_url, GradientRow, row.id) == 3  # conv, BN gamma, linear: the weights, in registration order


def test_course_framework_loop_writes_steps_gradients_and_test(store_url):
    builder("course", epochs=2, steps=6, database=store_url).run_experiment()
    (row,) = runs(store_url)
    assert row.status is RunStatus.COMPLETED and row.epochs_done == 2 and row.epochs_total == 2
    assert row.test_acc is not None and 0 <= row.test_acc <= 1 and row.test_loss > 0
    with db.session_scope(store_url) as s:
        steps = s.execute(select(StepRow.step, StepRow.epoch, StepRow.loss, StepRow.lr).order_by(StepRow.step)).all()
        layers = s.scalars(select(GradientRow.layer).where(GradientRow.epoch == 1).order_by(GradientRow.layer_index))
        assert list(layers) == ["0", "1", "4"]  # Sequential's names: conv 0, BN 1, linear 4 (no biases)
    assert [s.step for s in steps] == list(range(1, 13)) and [s.epoch for s in steps] == [1] * 6 + [2] * 6
    assert all(math.isfinite(s.loss) and s.lr == pytest.approx(1e-2) for s in steps)


def test_per_step_points_every_k_and_about_fifty_an_epoch(store_url):
    with Run("every", database=store_url, every=5) as run:
        train(run, tiny_model(), epochs=1, steps=12)
    with Run("default", database=store_url) as run:
        train(run, tiny_model(), epochs=2, steps=120)
    every, default = (r.id for r in runs(store_url))
    with db.session_scope(store_url) as s:
        assert list(s.scalars(select(StepRow.step).where(StepRow.run_id == every))) == [5, 10]
        points = list(s.scalars(select(StepRow.step).where(StepRow.run_id == default).order_by(StepRow.step)))
    first, second = [p for p in points if p <= 120], [p for p in points if p > 120]
    assert first[:50] == list(range(1, 51)) and 50 < len(first) < 100  # every step, then thinned as it goes
    assert len(second) == 60 and second[0] == 122  # 120 steps an epoch: every 2nd, ~50 an epoch


def test_exception_fails_the_run_with_its_first_line_and_goes_on_up(store_url):
    with pytest.raises(RuntimeError, match="out of memory"), Run("boom", database=store_url) as run:
        train(run, tiny_model(), epochs=1)
        raise RuntimeError("CUDA out of memory\nTried to allocate 2 GiB")
    (row,) = runs(store_url)
    assert row.status is RunStatus.FAILED and row.reason == "RuntimeError: CUDA out of memory"
    assert row.epochs_done == 1  # what it had done is kept


def test_ctrl_c_interrupts_and_the_run_is_never_resumed(store_url):
    with pytest.raises(KeyboardInterrupt), Run("ctrl-c", database=store_url) as run:
        train(run, tiny_model(), epochs=1)
        raise KeyboardInterrupt
    (row,) = runs(store_url)
    assert row.status is RunStatus.INTERRUPTED and "Ctrl-C" in row.reason
    with pytest.raises(ValueError, match="tracked"):
        submission.resume_run(row.id)
    assert runs(store_url)[0].status is RunStatus.INTERRUPTED


def test_non_finite_loss_marks_the_run_diverged(store_url):
    with Run("nan", database=store_url) as run:
        train(run, tiny_model(), epochs=2, steps=4, nan_at=3)
    (row,) = runs(store_url)
    assert row.status is RunStatus.DIVERGED and row.diverged_step == 3 and "step 3" in row.reason


def test_non_finite_tensor_loss_is_found_on_the_device(store_url):
    model = tiny_model()
    with Run("nan-tensor", database=store_url, every=4) as run:
        run.watch(model)
        for i, (x, y) in enumerate(batches(8), start=1):
            loss = nn.functional.cross_entropy(model(x), y) * (math.inf if i == 2 else 1.0)
            loss.backward()
            run.step(loss=loss)
            model.zero_grad()
    (row,) = runs(store_url)
    assert row.status is RunStatus.DIVERGED and row.diverged_step == 2


def test_cancel_from_the_dashboard_stops_the_run_at_its_next_step(store_url):
    model = tiny_model()
    sink = DatabaseSink(store_url, poll_s=0.05)
    steps = 0
    with pytest.raises(RunCancelled, match="cancelled"), Run("cancel me", sink=sink) as run:
        run.watch(model)
        for x, y in batches(10_000):
            nn.functional.cross_entropy(model(x), y).backward()
            run.step(loss=1.0)
            model.zero_grad()
            steps += 1
            if steps == 5:
                while sink.run_id is None:
                    time.sleep(0.01)
                assert cancel_run(sink.run_id) is RunStatus.RUNNING  # no Redis involved: the run polls the row
    (row,) = runs(store_url)
    # `steps` counts the steps done before the one that raised: 5 when the background poll saw the Cancel during
    # the 6th step (a slow machine), more when it saw it later; never all of them.
    assert row.status is RunStatus.CANCELLED and row.reason == "cancelled by user" and 5 <= steps < 10_000


@pytest.mark.parametrize("cancel_after_death", [False, True])
def test_sigkilled_tracked_process_is_interrupted_never_requeued(store_url, cancel_after_death):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "tests.track_support", store_url, "killed"], cwd=ROOT, env=env,
                            stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        deadline = time.monotonic() + 300  # a loaded machine takes a while to import torch
        while time.monotonic() < deadline and proc.poll() is None:
            if runs(store_url) and runs(store_url)[0].epochs_done >= 1:
                break
            time.sleep(0.1)
        assert proc.poll() is None and runs(store_url)[0].status is RunStatus.RUNNING
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    settings = Settings(heartbeat_s=0.5, stale_after_s=1.0, auto_resumes=3)
    patient = Settings(heartbeat_s=30, stale_after_s=60, auto_resumes=3)
    assert reconcile.reconcile(patient).interrupted == []  # its heartbeat is fresh enough for that
    if cancel_after_death:  # Cancel pressed on a run whose process is gone: reconcile makes it cancelled
        assert cancel_run(runs(store_url)[0].id) is RunStatus.RUNNING
        time.sleep(1.5)
        assert reconcile.reconcile(settings).cancelled == [runs(store_url)[0].id]
        assert runs(store_url)[0].status is RunStatus.CANCELLED
        return
    time.sleep(1.5)
    report = reconcile.reconcile(settings)
    (row,) = runs(store_url)
    assert report.interrupted == [row.id] and row.status is RunStatus.INTERRUPTED
    assert "never queued again" in row.reason
    assert reconcile.reconcile(settings).resumed == []  # a tracked run has no job to queue again
    (row,) = runs(store_url)
    assert row.status is RunStatus.INTERRUPTED and row.auto_resumes == 0 and row.job_id is None


def test_folder_sink_round_trips_through_worker_import(store_url, tmp_path):
    out = tmp_path / "my-resnet"
    builder("my resnet", epochs=2, steps=4, out=out).run_experiment()
    assert (out / "config.json").is_file() and (out / "gradients.csv").is_file()
    (imported,) = importer.import_folders([out]).imported
    assert imported.created
    (row,) = runs(store_url)
    assert row.status is RunStatus.COMPLETED and row.name == "my resnet" and row.origin is RunOrigin.IMPORTED
    assert row.config["model"] == "tiny-cnn" and row.epochs_done == 2 and row.test_acc is not None
    assert count(store_url, GradientRow, row.id) == 6
    result = cli({"PYTHONPATH": str(ROOT)}, "import", out)
    assert result.returncode == 0 and "already imported" in result.stdout + result.stderr


def test_database_outage_past_the_budget_goes_on_into_a_folder(tmp_path, capsys):
    dead = "postgresql+psycopg://postgres@127.0.0.1:9/none"  # nothing listens on port 9
    out = tmp_path / "fallback"
    sink = DatabaseSink(dead, poll_s=0.05, outage_s=0.5)
    model = tiny_model()
    with Run("outage", sink=sink, out=out) as run:
        train(run, model, epochs=1)
        time.sleep(1.5)  # past the budget: the next call switches, and training goes on
        train(run, model, epochs=1, watch=False)
    assert f"writing the run to {out}" in capsys.readouterr().err
    contents = importer.read_run_folder(out)
    assert contents.record["status"] == "completed" and len(contents.epochs) == 2


def test_unmigrated_database_goes_on_into_a_folder(database_url, tmp_path, capsys):
    with Run("no tables", database=database_url, out=tmp_path / "f") as run:
        train(run, tiny_model(), epochs=2)
    err = capsys.readouterr().err
    assert "python -m worker migrate" in err and str(tmp_path / "f") in err
    assert importer.read_run_folder(tmp_path / "f").record["status"] == "completed"


class NoWeights(nn.Module):
    def forward(self, x):
        return x


@pytest.mark.parametrize(
    "call, error, words",
    [
        (lambda run, m: run.step(loss=1.0), TrackingError, "step() before watch()"),
        (lambda run, m: run.watch(NoWeights()), TrackingError, "no trainable weight"),
        (lambda run, m: run.watch("model"), TrackingTypeError, "torch.nn.Module"),
        (lambda run, m: (run.watch(m), run.watch(m)), TrackingError, "already called"),
        (lambda run, m: (run.watch(m), run.epoch(1, 0.5, 1, 0.5)), TrackingError, "epoch() before any step()"),
        (lambda run, m: (run.watch(m), run.step(loss="0.3")), TrackingTypeError, "loss must be a number, got str"),
        (lambda run, m: (run.watch(m), run.step(loss=torch.ones(3))), TrackingError, "loss must be one number"),
        (lambda run, m: (run.watch(m), run.step(loss=1.0)), TrackingError, "has no gradient"),
    ],
)
def test_bad_calls_are_one_line_naming_the_argument(tmp_path, call, error, words):
    run = Run("bad", out=tmp_path / "bad")
    with pytest.raises(error) as caught:
        call(run, tiny_model())
    assert words in str(caught.value) and "\n" not in str(caught.value)


def test_bad_values_leave_the_run_as_it_was(store_url):
    model = tiny_model()
    with Run("values", database=store_url) as run:
        train(run, model, epochs=1)
        nn.functional.cross_entropy(model(batches(1)[0][0]), batches(1)[0][1]).backward()
        run.step(loss=1.0)
        for bad, words in ((dict(train_acc=1.5), "train_acc must be in 0..1"), (dict(val_acc=None), "val_acc must")):
            with pytest.raises(TrackingError, match=words.replace(".", r"\.")):
                run.epoch(**{"train_loss": 1.0, "train_acc": 0.5, "val_loss": 1.0, "val_acc": 0.5, **bad})
    (row,) = runs(store_url)
    assert row.status is RunStatus.COMPLETED and row.epochs_done == 1


@pytest.mark.parametrize(
    "kwargs, error",
    [
        (dict(name=""), "name must be a non-empty string"),
        (dict(name="x", config=[1]), "config must be a dict"),
        (dict(name="x", config={"f": object()}), "config.f must be"),
        (dict(name="x", every=0), "every must be a whole number"),
        (dict(name="x"), "needs database="),
    ],
)
def test_bad_run_arguments(kwargs, error, monkeypatch, tmp_path):
    monkeypatch.delenv("DATABASE_URL", raising=False)
    kwargs = {"out": tmp_path / "x", **kwargs} if kwargs != {"name": "x"} else kwargs
    with pytest.raises(TrackingError, match=error):
        Run(**kwargs)


def test_folder_refuses_a_folder_that_holds_a_run(tmp_path):
    with Run("first", out=tmp_path) as run:
        train(run, tiny_model(), epochs=1)
    with pytest.raises(TrackingError, match="already holds a run"):
        Run("second", out=tmp_path).watch(tiny_model())


def test_tracked_runs_need_no_redis(store_url, monkeypatch):
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:6390/0")  # nothing listens there
    with Run("no redis", database=store_url) as run:
        train(run, tiny_model(), epochs=1)
    assert runs(store_url)[0].status is RunStatus.COMPLETED


def test_track_module_imports_no_database_library():
    code = (
        "import sys, vgp_models.track; print(sorted(m for m in ('sqlalchemy', 'worker', 'redis') if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_the_database_sink_is_the_installed_packages_entry_point(store_url, monkeypatch):
    # `make test` installs the checkout editable: pyproject.toml's vgp_lab.tracking_sinks names worker's sink.
    assert type(Run("found", database=store_url).sink) is DatabaseSink
    monkeypatch.setattr("vgp_models.track.entry_points", lambda **_: [])  # vgp_models copied without the package
    with pytest.raises(TrackingError, match=r"needs VGP Lab's database sink installed \(pip install"):
        Run("missing", database=store_url)


def test_a_database_outage_within_the_budget_blocks_no_step_and_loses_nothing(tmp_path, capsys):
    from tests.reliability_support import PrivatePostgres

    server = PrivatePostgres().start()
    try:
        db.upgrade_database(server.url)
        model = tiny_model()
        with Run("blip", sink=DatabaseSink(server.url, poll_s=0.1, outage_s=120), out=tmp_path / "f") as run:
            train(run, model, epochs=1)
            while run.sink.run_id is None or not runs(server.url)[0].epochs_done:
                time.sleep(0.05)
            server.stop()
            t0 = time.perf_counter()
            train(run, model, epochs=1, watch=False)  # its steps and epoch wait on nothing
            assert time.perf_counter() - t0 < 5
            time.sleep(2)
            server.start()
            train(run, model, epochs=1, watch=False)
        (row,) = runs(server.url)
        assert row.status is RunStatus.COMPLETED and row.epochs_done == 3 and count(server.url, StepRow, row.id) == 12
        assert "writing the run to" not in capsys.readouterr().err and not (tmp_path / "f").exists()
    finally:
        db.dispose_engines()
        server.remove()


def test_a_diverged_folder_run_without_lr_imports_with_blanks(store_url, tmp_path):
    model = tiny_model()
    with Run("diverged folder", out=tmp_path / "d") as run:
        run.watch(model)
        for epoch_loss in (1.0, math.nan):
            for x, y in batches(2):
                nn.functional.cross_entropy(model(x), y).backward()
                run.step(loss=epoch_loss)  # no lr given
                model.zero_grad()
            run.epoch(train_loss=epoch_loss, train_acc=0.5, val_loss=epoch_loss, val_acc=0.5)
    (imported,) = importer.import_folders([tmp_path / "d"]).imported
    (row,) = runs(store_url)
    assert row.status is RunStatus.DIVERGED and row.diverged_step == 3 and row.test_acc is None
    with db.session_scope(store_url) as s:
        epochs = s.execute(select(EpochRow.train_loss, EpochRow.lr).order_by(EpochRow.epoch)).all()
    assert [tuple(e) for e in epochs] == [(1.0, None), (None, None)]


def test_progress_inside_an_epoch_is_written_for_the_run_page(store_url):
    model = tiny_model()
    sink = DatabaseSink(store_url, poll_s=0.05)
    with Run("progress", sink=sink, epochs=3) as run:
        train(run, model, epochs=1, steps=4)
        for x, y in batches(2):
            nn.functional.cross_entropy(model(x), y).backward()
            run.step(loss=1.0)
            model.zero_grad()
        deadline, seen = time.monotonic() + 10, None
        while time.monotonic() < deadline and seen != (1, 2, 4):
            time.sleep(0.05)
            row = next(iter(runs(store_url)), None)
            seen = row and (row.epochs_done, row.epoch_step, row.epoch_steps)
        assert seen == (1, 2, 4)  # "step 2/4" of epoch 2
        assert row.epoch_started_at is not None
        run.epoch(train_loss=1.0, train_acc=0.5, val_loss=1.0, val_acc=0.5)
