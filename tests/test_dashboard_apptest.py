"""The pages under Streamlit's AppTest: a temp SQLite store (migrated), real Redis, a unique queue per test."""

from __future__ import annotations

import subprocess
import sys
import uuid
from pathlib import Path
from types import SimpleNamespace

import pytest
from redis import Redis
from rq import Queue
from rq.serializers import JSONSerializer
from streamlit.testing.v1 import AppTest

from vgp_models.config import RunConfig
from worker import queue, store

ROOT = Path(__file__).resolve().parents[1]
APP = str(ROOT / "dashboard" / "app.py")
REDIS_URL = "redis://127.0.0.1:6379/0"
DEAD_REDIS_URL = "redis://127.0.0.1:6390/0"  # nothing listens there
TIMEOUT = 30


@pytest.fixture
def env(tmp_path, monkeypatch):
    """DATABASE_URL (a migrated temp SQLite file), REDIS_URL and a unique VGP_QUEUE; the queue is deleted after."""
    url = f"sqlite:///{tmp_path / 'vgp.db'}"
    name = f"vgp-test-{uuid.uuid4().hex[:8]}"
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setenv("REDIS_URL", REDIS_URL)
    monkeypatch.setenv("VGP_QUEUE", name)
    monkeypatch.setenv("VGP_CHECKPOINT_DIR", str(tmp_path / "checkpoints"))
    store.upgrade_database(url)
    rq_queue = None
    if queue.redis_available(REDIS_URL):
        rq_queue = Queue(name, connection=Redis.from_url(REDIS_URL), serializer=JSONSerializer)
    yield SimpleNamespace(url=url, queue=rq_queue)
    if rq_queue is not None:
        rq_queue.delete(delete_jobs=True)
    store.dispose_engines()


@pytest.fixture
def redis_env(env):
    if env.queue is None:
        pytest.skip(f"needs a Redis server at {REDIS_URL}")
    return env


def launch_page() -> AppTest:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT).run()
    assert not at.exception, at.exception
    return at


def fill_tiny_run(at: AppTest, **values) -> None:
    fields = dict(epochs=2, batch_size=32, subset=64, lr=1e-3) | values
    for key, value in fields.items():
        at.number_input(key=key).set_value(value)


def all_runs() -> list[store.Run]:
    with store.session_scope() as session:
        return store.list_runs(session)


def test_valid_submission_queues_run_and_job(redis_env):
    at = launch_page()
    at.selectbox(key="preset").set_value("vgg38-bn-rc")
    fill_tiny_run(at, lr=1e-2)
    at.text_input(key="name").input("smoke")
    at.button(key="submit").click().run()
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    assert "Queued run #1" in at.success[0].value
    (link,) = at.get("page_link")
    assert link.proto.query_string == "run=1"
    assert link.proto.page == "run"

    (run,) = all_runs()
    assert run.status == store.RunStatus.QUEUED
    assert run.name == "smoke"
    assert RunConfig.from_dict(run.config) == RunConfig.from_preset(
        "vgg38-bn-rc", lr=1e-2, epochs=2, batch_size=32, subset=64
    )
    (job,) = redis_env.queue.get_jobs()
    assert job.args == [run.id]
    assert job.id == run.job_id


def test_custom_architecture_submission(redis_env):
    at = launch_page()
    at.radio(key="mode").set_value("Custom").run()
    at.selectbox(key="depth").set_value(38)
    at.checkbox(key="residual").check()
    at.selectbox(key="shortcut").set_value("avgpool")
    fill_tiny_run(at)
    at.button(key="submit").click().run()
    assert not at.exception and not at.error
    (run,) = all_runs()
    config = RunConfig.from_dict(run.config)
    assert (config.depth, config.batch_norm, config.residual, config.shortcut) == (38, False, True, "avgpool")
    assert redis_env.queue.count == 1


@pytest.mark.parametrize(
    "values,message",
    [
        (dict(lr=0.0), "lr must be"),
        (dict(lr=-0.01), "lr must be"),
        (dict(epochs=0), "epochs must be"),
        (dict(batch_size=0), "batch_size must be"),
    ],
)
def test_invalid_submission_shows_one_error_and_queues_nothing(redis_env, values, message):
    at = launch_page()
    fill_tiny_run(at, **values)
    at.button(key="submit").click().run()
    assert not at.exception
    (error,) = at.error
    assert message in error.value and "\n" not in error.value
    assert not at.success
    assert all_runs() == []
    assert redis_env.queue.count == 0


def test_invalid_architecture_shows_error(redis_env):
    at = launch_page()
    at.radio(key="mode").set_value("Custom").run()
    at.selectbox(key="shortcut").set_value("conv1x1")  # needs residual on
    at.button(key="submit").click().run()
    (error,) = at.error
    assert "residual" in error.value
    assert all_runs() == []


def test_redis_down_shows_banner_and_disables_submit(env, monkeypatch):
    monkeypatch.setenv("REDIS_URL", DEAD_REDIS_URL)
    at = launch_page()
    (banner,) = at.error
    assert "Redis" in banner.value
    assert at.button(key="submit").disabled


def add_run(status: str = "completed", epochs: int = 3, layers: int = 9, reason: str | None = None, **fields) -> int:
    """A run written straight into the store, with `epochs` epochs of metrics and gradients."""
    config = RunConfig.from_preset("vgg08", epochs=epochs, subset=64)
    with store.session_scope() as session:
        run_id = store.create_run(session, config, name="=not-a-formula").id
        for e in range(1, epochs + 1):
            grads = [
                SimpleNamespace(
                    layer_index=i, layer=f"layer_{i}", abs_mean_last=1e-3 * (i + 1) * e, abs_mean_epoch=1e-3, l2=0.1
                )
                for i in range(layers)
            ]
            metrics = SimpleNamespace(
                epoch=e,
                train_loss=4.6 - 0.1 * e,
                train_acc=0.01 * e,
                val_loss=4.6 - 0.05 * e,
                val_acc=0.02 * e,
                lr=1e-3,
                seconds=1.5,
                grads=grads,
            )
            store.record_epoch(session, run_id, metrics)
        store.set_status(session, run_id, status, reason=reason, **fields)
    return run_id


def run_page(run_id: int | str | None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT).run()
    if run_id is not None:
        at.query_params["run"] = str(run_id)
    at.switch_page("views/run.py").run()
    assert not at.exception, at.exception
    return at


def markdown_text(at: AppTest) -> str:
    return "\n".join(m.value for m in at.markdown)


def test_run_page_of_finished_run(env):
    run_id = add_run(params=59_716, device="cpu", test_acc=0.05, test_loss=4.4)
    at = run_page(run_id)
    assert "completed" in markdown_text(at)
    assert not at.error
    (bar,) = at.get("progress")
    assert "Epoch 3 of 3" in bar.proto.text
    assert len(at.get("vega_lite_chart")) == 3  # loss, accuracy, gradient flow
    downloads = at.get("download_button")
    assert len(downloads) == 2 and not any(d.proto.disabled for d in downloads)
    assert at.metric[0].value == "6.00%"  # best val acc, epoch 3
    assert at.query_params["run"] == str(run_id)


def test_run_page_one_epoch_slider(env):
    run_id = add_run()
    at = run_page(run_id)
    at.toggle(key=f"one-epoch-{run_id}").set_value(True).run()
    assert not at.exception
    assert at.select_slider(key=f"epoch-{run_id}").value == 3
    assert len(at.get("vega_lite_chart")) == 3


def test_run_page_failed_run_shows_reason(env):
    run_id = add_run(status="diverged", epochs=1, reason="loss became nan", diverged_step=17)
    at = run_page(run_id)
    assert "diverged" in markdown_text(at)
    (warning,) = at.warning
    assert "loss became nan" in warning.value and "step 17" in warning.value
    assert not at.error


def test_run_page_queued_run_without_epochs(env):
    with store.session_scope() as session:
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
    assert error.value == "Failed: DataError: cifar-100-python/train is missing"
    assert at.button(key=f"resume-{run_id}")


def test_cancel_then_resume_from_the_run_page(redis_env):
    at = launch_page()
    fill_tiny_run(at)
    at.button(key="submit").click().run()
    (run,) = all_runs()
    at.query_params["run"] = str(run.id)
    at.switch_page("views/run.py").run()
    at.button(key=f"cancel-{run.id}").click().run()
    assert not at.exception, at.exception
    assert "cancelled" in markdown_text(at)
    assert redis_env.queue.count == 0
    at.button(key=f"resume-{run.id}").click().run()
    assert not at.exception, at.exception
    assert "queued" in markdown_text(at)
    assert [job.args for job in redis_env.queue.get_jobs()] == [[run.id]]


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


def test_runs_page_lists_runs(env):
    add_run()
    add_run(status="running")
    at = AppTest.from_file(APP, default_timeout=TIMEOUT).run()
    at.switch_page("views/runs.py").run()
    assert not at.exception, at.exception
    (table,) = at.dataframe
    assert table.value["status"].tolist() == ["running", "completed"]
    assert table.value["open"].tolist() == ["run?run=2", "run?run=1"]


def test_unmigrated_database_is_one_error_line(tmp_path, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'empty.db'}")
    at = AppTest.from_file(APP, default_timeout=TIMEOUT).run()
    at.switch_page("views/runs.py").run()
    assert not at.exception
    (error,) = at.error
    assert error.value.startswith("Cannot read the runs: ") and "runs" in error.value
    assert "python -m worker migrate" in error.value
    store.dispose_engines()


def test_pages_never_import_torch(env):
    """The architecture rule, checked in a fresh interpreter: every page runs without loading torch."""
    add_run()
    script = f"""
import sys
from streamlit.testing.v1 import AppTest
at = AppTest.from_file({APP!r}, default_timeout={TIMEOUT}).run()
for page in ("views/runs.py", "views/run.py"):
    at.switch_page(page).run()
    assert not at.exception, at.exception
print(sorted(m for m in sys.modules if m.split(".")[0] in ("torch", "torchvision")))
"""
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().splitlines()[-1] == "[]"
