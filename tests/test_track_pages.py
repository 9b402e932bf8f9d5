"""What the pages show of a tracked run (vgp_models.track): the course framework's loop, tracked into SQLite and
into Postgres, on the Run and Runs pages under Streamlit's AppTest; Cancel from the Run page; no Resume or Rerun."""

from __future__ import annotations

import time

import pytest
from torch import nn

from dashboard import run_actions
from dashboard.display import plain
from tests.dashboard_support import add_run, markdown_text, open_page
from tests.track_support import batches, builder, loop_until_cancelled, tiny_model
from vgp_models.track import Run
from worker import db, store
from worker.schema import RunStatus
from worker.tracking import DatabaseSink


def buttons(at) -> set[str]:
    return {b.key for b in at.button}


def test_course_framework_run_shows_on_the_pages(env):
    builder("course-cnn", epochs=2, steps=6, database=env["DATABASE_URL"]).run_experiment()
    with db.session_scope() as s:
        (run,) = store.list_runs(s)
    at = open_page("views/run.py", run=run.id)
    assert not at.error and not at.exception
    assert "completed" in markdown_text(at)
    assert at.header[0].value == plain(f"#{run.id} course-cnn · own model")
    assert len(at.get("vega_lite_chart")) == 6  # loss, accuracy, gradient flow, steps, gain per layer and its heatmap
    assert "Epoch 2 of 2" in at.get("progress")[0].proto.text
    assert at.metric[1].value != "–"  # the test accuracy of run.test()
    assert f"resume-{run.id}" not in buttons(at)
    runs_page = open_page("views/runs.py")
    assert not runs_page.exception and "course-cnn" in runs_page.dataframe[0].value.to_string()
    queued = add_run()  # one of VGP Lab's own, beside it
    compare = open_page("views/compare.py")
    compare.multiselect(key="compare_runs").set_value([run.id, queued]).run()
    assert not compare.exception and not compare.error
    assert len(compare.get("vega_lite_chart")) >= 3  # curves and both runs' gradient flow
    results = open_page("views/results.py")
    assert not results.exception and not results.error


def test_no_resume_or_rerun_of_a_tracked_run(env):
    with pytest.raises(KeyboardInterrupt), Run("stopped", database=env["DATABASE_URL"]) as run:
        model = tiny_model()
        run.watch(model)
        for x, y in batches(3):
            nn.functional.cross_entropy(model(x), y).backward()
            run.step(loss=1.0)
        run.epoch(train_loss=1.0, train_acc=0.5, val_loss=1.0, val_acc=0.5)
        raise KeyboardInterrupt
    with db.session_scope() as s:
        (row,) = store.list_runs(s)
    at = open_page("views/run.py", run=row.id)
    assert "interrupted" in markdown_text(at) and f"resume-{row.id}" not in buttons(at)
    for action in (run_actions.resume, run_actions.rerun):
        ok, text = action([row.id])
        assert not ok and "tracked" in text and "\n" not in text
    with db.session_scope() as s:
        assert store.require_run(s, row.id).status is RunStatus.INTERRUPTED and len(store.list_runs(s)) == 1


def test_cancel_on_the_run_page_stops_the_tracked_loop(env):
    sink = DatabaseSink(env["DATABASE_URL"], poll_s=0.1)
    thread, outcome = loop_until_cancelled("cancel me", sink, pause_s=0.01)
    deadline = time.monotonic() + 30
    while sink.run_id is None and time.monotonic() < deadline:
        time.sleep(0.05)
    at = open_page("views/run.py", run=sink.run_id)
    assert "running" in markdown_text(at)
    at.button(key=f"cancel-{sink.run_id}").click().run()
    assert not at.exception and not at.error
    thread.join(30)
    assert not thread.is_alive() and "cancelled from the dashboard" in str(outcome["error"])
    with db.session_scope() as s:
        assert store.require_run(s, sink.run_id).status is RunStatus.CANCELLED
