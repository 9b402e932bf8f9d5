"""The Run page under Streamlit's AppTest, and what holds for every page: a temp SQLite store (migrated), real
Redis, a unique queue per test. Launch, Runs, Compare and Results have their own test_dashboard_* modules."""

from __future__ import annotations

import subprocess
import sys

import pytest
from streamlit.testing.v1 import AppTest

from dashboard.display import plain
from tests.dashboard_support import APP, ROOT, TIMEOUT, add_run, all_runs, markdown_text, open_page
from vgp_models.config import RunConfig
from worker import db, queue, store

pytestmark = pytest.mark.pages  # SQLite only: see tests/conftest.py

PAGES = ("views/launch.py", "views/runs.py", "views/run.py", "views/compare.py", "views/results.py")


def fill_tiny_run(at: AppTest, **values) -> None:
    fields = dict(epochs=2, batch_size=32, subset=64, lr=1e-3) | values
    for key, value in fields.items():
        at.number_input(key=key).set_value(value)


def run_page(run_id: int | str | None) -> AppTest:
    return open_page("views/run.py", run=run_id)


def test_run_page_of_finished_run(env):
    run_id = add_run(params=59_716, device="cpu", test_acc=0.05, test_loss=4.4)
    at = run_page(run_id)
    assert "completed" in markdown_text(at)
    assert not at.error
    (bar,) = at.get("progress")
    assert "Epoch 3 of 3" in bar.proto.text
    assert len(at.get("vega_lite_chart")) == 5  # loss, accuracy, gradient flow, gain per layer and its heatmap
    downloads = at.get("download_button")  # epochs, gradients, signals and steps CSV, and PNG + SVG of each chart
    assert [d.proto.label for d in downloads] == ["PNG", "SVG"] * 5 + ["Epochs CSV", "Gradients CSV", "Signals CSV",
                                                                         "Steps CSV"]  # fmt: skip
    assert not any(d.proto.disabled for d in downloads)
    assert not at.warning  # a healthy run: no vanishing-gradient flag
    assert at.metric[0].value == "6.00%"  # best val acc, epoch 3
    assert at.query_params["run"] == str(run_id)


def test_run_page_one_epoch_slider(env):
    run_id = add_run()
    at = run_page(run_id)
    at.toggle(key=f"one-epoch-{run_id}").set_value(True).run()
    assert not at.exception
    assert at.select_slider(key=f"epoch-{run_id}").value == 3
    assert len(at.get("vega_lite_chart")) == 5


def test_run_page_failed_run_shows_reason(env):
    run_id = add_run(status="diverged", epochs=1, reason="loss became nan", diverged_step=17)
    at = run_page(run_id)
    assert "diverged" in markdown_text(at)
    (warning,) = at.warning
    assert "loss became nan" in warning.value and "step 17" in warning.value
    assert not at.error


def test_run_page_queued_run_without_epochs(env):
    with db.session_scope() as session:
        run_id = store.create_run(session, RunConfig.from_preset("vgg38", epochs=5)).id
    at = run_page(run_id)
    assert "queued" in markdown_text(at)
    assert "waiting for a worker" in at.get("progress")[0].proto.text
    assert not at.get("vega_lite_chart")
    assert at.button(key=f"cancel-{run_id}")


def test_run_page_failed_run_is_an_error_with_resume(env):
    run_id = add_run(status="failed", epochs=1, reason="DataError: cifar-100-python/train is missing")
    at = run_page(run_id)
    (error,) = at.error
    assert error.value == "Failed: " + plain("DataError: cifar-100-python/train is missing")  # as typed
    assert at.button(key=f"resume-{run_id}")


def test_run_page_flags_vanishing_gradients(env):
    run_id = add_run("vgg38", layers=39, kind="vanishing")
    (warning,) = run_page(run_id).warning
    assert "Vanishing gradients" in warning.value and "1.0e-09" in warning.value


def test_cancel_then_resume_from_the_run_page(redis_env):
    at = open_page()
    fill_tiny_run(at)
    at.button(key="submit").click().run()
    (run,) = all_runs()
    at.query_params["run"] = str(run.id)
    at.switch_page("views/run.py").run()
    at.button(key=f"cancel-{run.id}").click().run()
    assert not at.exception, at.exception
    assert "cancelled" in markdown_text(at)
    assert queue.get_queue().count == 0
    at.button(key=f"resume-{run.id}").click().run()
    assert not at.exception, at.exception
    assert "queued" in markdown_text(at)
    assert [job.args for job in queue.get_queue().get_jobs()] == [[run.id]]


def test_run_page_picks_from_query_params_or_newest(env):
    first, second = add_run(), add_run(status="failed", reason="boom")
    assert at_selected(run_page(first)) == first
    assert at_selected(run_page(None)) == second
    at = run_page(999)
    assert at.warning and at_selected(at) == second


def at_selected(at: AppTest) -> int:
    return at.selectbox[0].value


def test_run_page_without_runs(env):
    at = run_page(None)
    assert "No runs yet" in at.info[0].value


@pytest.mark.parametrize("page", PAGES[1:])
def test_unmigrated_database_is_one_error_line(tmp_path, monkeypatch, page):
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'empty.db'}")
    at = AppTest.from_file(APP, default_timeout=TIMEOUT).run()
    at.switch_page(page).run()
    assert not at.exception
    (error,) = at.error
    assert error.value.startswith(plain("Cannot read the runs: ")) and "runs" in error.value
    assert "python -m worker migrate" in error.value
    db.dispose_engines()


@pytest.mark.parametrize("page", PAGES[1:])
def test_pages_without_runs(env, page):
    at = open_page(page)
    assert not at.error and ("No runs yet" in at.info[0].value if page != "views/results.py" else at.dataframe)


def test_pages_never_import_torch(env):
    """The architecture rule, checked in a fresh interpreter: every page runs without loading torch."""
    add_run()
    script = f"""
import sys
from streamlit.testing.v1 import AppTest
at = AppTest.from_file({APP!r}, default_timeout={TIMEOUT}).run()
for page in {PAGES!r}:
    at.switch_page(page).run()
    assert not at.exception, at.exception
print(sorted(m for m in sys.modules if m.split(".")[0] in ("torch", "torchvision")))
"""
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().splitlines()[-1] == "[]"
