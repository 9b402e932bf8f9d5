"""The Runs page under AppTest: the table (progress, ETA, the vanishing-gradient flag), filters, and the actions
on selected runs: rename, tag, note, delete after a confirmation, cancel, rerun, resume, compare."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from dashboard.display import plain
from tests.dashboard_support import add_run, all_runs, open_page
from tests.env_support import DEAD_REDIS_URL
from vgp_models.config import RunConfig
from worker import cancellation, db, frames, queue, store

pytestmark = pytest.mark.pages  # SQLite only: see tests/conftest.py


def runs_page() -> AppTest:
    return open_page("views/runs.py")


def table(at: AppTest):
    (frame,) = at.dataframe
    return frame.value


def select(at: AppTest, *run_ids: int) -> AppTest:
    at.multiselect(key="runs_selected").set_value(list(run_ids))
    return at.run()


def test_table_shows_every_run_with_progress_eta_and_flag(env):
    healthy = add_run(params=59_716, device="cpu", group="g1", tags=("a",))
    broken = add_run("vgg38", layers=39, kind="vanishing", group="g2")
    running = add_run(status="running", epochs=2, group="g1")
    with db.session_scope() as s:  # 2 of 4 epochs done, 1.5 s each
        store.require_run(s, running).epochs_total = 4
    frame = table(runs_page())
    assert frame["id"].tolist() == [running, broken, healthy]
    assert frame["status"].tolist() == ["running", "completed", "completed"]
    assert frame["gradients"].tolist() == ["", "vanishing", ""]
    assert frame["progress"].tolist() == [0.5, 1.0, 1.0]
    assert frame["eta"].tolist() == ["3.0 s", "", ""]
    assert frame["group"].tolist() == ["g1", "g2", "g1"] and frame["tags"].iloc[2] == ["a"]
    assert frame["run"].iloc[1] == f"#{broken} =not-a-formula · VGG38 lr 1e-3 · 3 epochs · 64 images"
    assert frame["lr"].tolist() == [1e-3] * 3 and frame["best val acc"].iloc[1] == pytest.approx(6.0)  # in %
    for column in ("best val acc", "params", "device", "worker", "open"):
        assert column in frame


def test_filters_by_status_group_and_tag(env):
    a = add_run(group="g1", tags=("x",))
    b = add_run(status="failed", group="g2", tags=("x", "y"))
    c = add_run(group="g1")
    at = runs_page()
    at.multiselect(key="runs_status").set_value(["completed"]).run()
    assert table(at)["id"].tolist() == [c, a]
    at.multiselect(key="runs_group").set_value(["g1"]).run()
    at.multiselect(key="runs_tag").set_value(["x"]).run()
    assert table(at)["id"].tolist() == [a]
    at.multiselect(key="runs_status").set_value([]).run()
    at.multiselect(key="runs_group").set_value([]).run()
    assert table(at)["id"].tolist() == [b, a]
    assert "2 of 3 runs" in at.caption[0].value


def test_rename_tag_and_note(env):
    run_id = add_run(tags=("old",))
    at = select(runs_page(), run_id)
    at.text_input(key="runs_new_name").input("baseline")
    at.button(key="runs_rename").click().run()
    assert at.success[0].value == plain(f"Renamed #{run_id}.")
    at.text_input(key="runs_tags").input("new, second")
    at.button(key="runs_add_tags").click().run()
    at.text_input(key="runs_tags").input("old")
    at.button(key="runs_remove_tags").click().run()
    at.text_area(key="runs_note").input("lr too high?")
    at.button(key="runs_save_note").click().run()
    assert not at.exception and not at.error
    (run,) = all_runs()
    assert (run.name, run.tags, run.note) == ("baseline", ["new", "second"], "lr too high?")
    assert table(at)["run"].tolist() == [f"#{run.id} baseline · VGG08 lr 1e-3 · 3 epochs · 64 images"]


def test_rename_needs_exactly_one_run(env):
    a, b = add_run(), add_run()
    at = select(runs_page(), a, b)
    assert at.button(key="runs_rename").disabled and not at.button(key="runs_add_tags").disabled
    assert [d.proto.label for d in at.get("download_button")] == ["Epochs CSV", "Gradients CSV", "Signals CSV",
                                                                  "Steps CSV"]  # of both  # fmt: skip


def test_delete_asks_first_then_removes_the_run_and_its_metrics(env):
    keep, doomed = add_run(), add_run()
    at = select(runs_page(), doomed)
    at.button(key="runs_delete").click().run()
    (warning,) = at.warning
    assert plain(f"Delete 1 run(s) (#{doomed})") in warning.value
    assert len(all_runs()) == 2  # nothing deleted yet
    at.button(key="runs_delete_no").click().run()
    assert not at.warning and len(all_runs()) == 2
    at.button(key="runs_delete").click().run()
    at.button(key="runs_delete_yes").click().run()
    assert not at.exception and at.success[0].value == plain(f"Deleted #{doomed}.")
    assert [r.id for r in all_runs()] == [keep]
    with db.session_scope() as s:
        assert frames.epochs_frame(s, [doomed]).empty and frames.gradients_frame(s, [doomed]).empty
    assert table(at)["id"].tolist() == [keep] and at.multiselect(key="runs_selected").value == []


def test_delete_of_a_running_run_is_refused_in_one_line(env):
    run_id = add_run(status="running")
    at = select(runs_page(), run_id)
    at.button(key="runs_delete").click().run()
    at.button(key="runs_delete_yes").click().run()
    (error,) = at.error
    assert error.value == plain(f"Could not delete: #{run_id}: run {run_id} is running; cancel it before deleting it")
    assert len(all_runs()) == 1


def test_a_running_run_is_cancelling_until_it_stops_even_with_redis_down(env, monkeypatch):
    monkeypatch.setenv("REDIS_URL", DEAD_REDIS_URL)  # Cancel is a database write: it needs no Redis
    run_id = add_run(status="running")
    at = select(runs_page(), run_id)
    at.button(key="runs_cancel").click().run()
    assert at.success[0].value == plain(f"Cancelling #{run_id}.")  # its job has only been asked to stop
    assert cancellation.cancel_requested(run_id)


def test_cancel_rerun_and_resume(redis_env):
    queued = open_page()
    for key, value in dict(epochs=1, batch_size=32, subset=32).items():
        queued.number_input(key=key).set_value(value)
    queued.text_input(key="name").input("first")
    queued.button(key="submit").click().run()
    (run,) = all_runs()
    at = select(runs_page(), run.id)
    at.button(key="runs_cancel").click().run()
    assert at.success[0].value == plain(f"Cancelled #{run.id}.")
    assert table(at)["status"].tolist() == ["cancelled"] and queue.get_queue().count == 0
    at = select(at, run.id)
    at.button(key="runs_rerun").click().run()
    at.button(key="runs_resume").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    runs = sorted(all_runs(), key=lambda r: r.id)
    assert [(r.name, r.status.value) for r in runs] == [("first", "queued"), ("first", "queued")]
    assert RunConfig.from_dict(runs[1].config) == RunConfig.from_dict(runs[0].config)
    assert sorted(job.args[0] for job in queue.get_queue().get_jobs()) == [runs[0].id, runs[1].id]


def test_compare_button_opens_compare_with_the_selection(env):
    a, b, _ = add_run(), add_run("vgg38", layers=39), add_run()
    at = select(runs_page(), a, b)
    at.button(key="runs_compare").click().run()
    assert not at.exception
    assert at.multiselect(key="compare_runs").value == [a, b]
