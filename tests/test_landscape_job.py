"""The loss landscape as a queued job: its points in the store with progress, around a fresh net or a run's kept
checkpoint; cancelled queued or running; refused arguments (at submit, and by the worker's allow-list); a failure in
one line; a run folder's landscapes imported with the run."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch
from rq import Callback
from rq.job import Job
from rq.serializers import JSONSerializer

from tests.reliability_support import work_in_process
from vgp_models.checkpoints import to_bytes
from vgp_models.config import ConfigError, RunConfig
from vgp_models.data import load_cifar100
from vgp_models.landscape import measure_landscape, point_rows
from vgp_models.landscape_config import LandscapeConfig
from vgp_models.landscape_file import write_landscape
from vgp_models.run_folder import RunFolderError, train_into
from vgp_models.train import build_model
from worker import (
    cancellation,
    connection,
    db,
    frames,
    importer,
    landscape_job,
    landscapes,
    queue,
    rq_jobs,
    store,
    submission,
)
from worker.rq_jobs import callbacks
from worker.schema import RunStatus

NET = RunConfig.from_dict({"depth": 8, "width": 8, "batch_norm": True, "epochs": 1, "subset": 64, "device": "cpu"})
FRESH = LandscapeConfig(preset="vgg08", dims=2, points=3, images=8)


def landscape_row(landscape_id: int) -> dict:
    with db.session_scope() as s:
        frame = frames.landscapes_frame(s)
        points = frames.landscape_points_frame(s, [landscape_id])
    row = frame.set_index("id").loc[landscape_id].to_dict()
    return {**row, "points": points}


def run_with_best_checkpoint() -> tuple[int, dict]:
    """A run whose `best` checkpoint row holds NET's seed-0 weights, as a training job leaves it."""
    state = {"model": build_model(NET).state_dict(), "config": NET.to_dict(), "epoch": 1}
    with db.session_scope() as s:
        run = store.create_run(s, NET)
        store.put_checkpoint(s, run.id, "best", 1, run.uuid, to_bytes(state))
        return run.id, state


def test_fresh_landscape_runs_as_a_job_and_stores_every_point(redis_env, cifar_dir, monkeypatch):
    monkeypatch.setenv("VGP_DATA_DIR", str(cifar_dir))
    landscape_id = submission.submit_landscape(FRESH)
    queued = landscape_row(landscape_id)
    assert (queued["status"], queued["points_total"], queued["points_done"]) == ("queued", 9, 0)
    work_in_process()
    row = landscape_row(landscape_id)
    assert row["status"] == "completed", row["reason"]
    assert row["points_done"] == 9 and row["device"] == "cpu" and row["worker_name"] and pd_isna(row["run_id"])
    points = row["points"]
    assert points[["i", "j"]].values.tolist() == [[i, j] for i in range(3) for j in range(3)]
    expected = measure_landscape(FRESH, RunConfig.from_preset("vgg08"), None, load_cifar100(cifar_dir, subset=8),
                                 torch.device("cpu"))  # fmt: skip
    assert points["loss"].tolist() == pytest.approx([p.loss for p in expected], rel=1e-6)


def pd_isna(value: object) -> bool:
    return value is None or value != value or str(value) == "<NA>"


def test_landscape_of_a_runs_kept_checkpoint(redis_env, cifar_dir, monkeypatch):
    monkeypatch.setenv("VGP_DATA_DIR", str(cifar_dir))
    run_id, state = run_with_best_checkpoint()
    config = LandscapeConfig(run_id=run_id, dims=1, points=3, images=8)
    landscape_id = submission.submit_landscape(config)
    work_in_process()
    row = landscape_row(landscape_id)
    assert row["status"] == "completed" and row["run_id"] == run_id, row["reason"]
    expected = measure_landscape(config, NET, state, load_cifar100(cifar_dir, subset=8), torch.device("cpu"))
    assert row["points"]["loss"].tolist() == pytest.approx([p.loss for p in expected], rel=1e-6)
    assert row["points"]["beta"].isna().all()


def test_refused_arguments_write_nothing(redis_env):
    run_id, _ = run_with_best_checkpoint()
    with db.session_scope() as s:
        bare = store.create_run(s, NET).id
    for config, message in [(LandscapeConfig(), "needs a run (with a kept checkpoint) or a fresh preset"),
                            (LandscapeConfig(run_id=run_id, kind="last"), f"run {run_id} keeps no last checkpoint"),
                            (LandscapeConfig(run_id=bare), f"run {bare} keeps no best checkpoint"),
                            (LandscapeConfig(run_id=987654), "no run with id 987654")]:  # fmt: skip
        with pytest.raises((ConfigError, LookupError), match=re.escape(message)):
            submission.submit_landscape(config)
    with db.session_scope() as s:
        assert frames.landscapes_frame(s).empty
    assert queue.get_queue().count == 0


def test_the_worker_runs_the_landscape_job_with_one_int_and_our_callback_only(redis_env):
    q = queue.get_queue()
    ok = {"on_failure": Callback(rq_jobs.JOB_CALLBACKS[rq_jobs.LANDSCAPE_FUNCTION]["failure"])}
    ours = q.enqueue(rq_jobs.LANDSCAPE_FUNCTION, 5, **ok)
    assert rq_jobs.job_refusal(ours) is None
    for args, options, reason in [(("5",), ok, "exactly one run id"), ((5, 6), ok, "exactly one run id"),
                                  ((5,), {"on_failure": Callback("os.system")}, "not VGP Lab's")]:  # fmt: skip
        job = Job.fetch(q.enqueue(rq_jobs.LANDSCAPE_FUNCTION, *args, **options).id,
                        connection=connection.get_redis(), serializer=JSONSerializer)  # fmt: skip
        assert reason in rq_jobs.job_refusal(job)


def test_cancelled_queued_landscape_never_runs(redis_env, cifar_dir, monkeypatch):
    monkeypatch.setenv("VGP_DATA_DIR", str(cifar_dir))
    landscape_id = submission.submit_landscape(FRESH)
    assert cancellation.cancel_landscape(landscape_id) is RunStatus.CANCELLED
    assert queue.get_queue().count == 0
    work_in_process()
    row = landscape_row(landscape_id)
    assert row["status"] == "cancelled" and row["points"].empty


def test_running_landscape_stops_at_the_next_point_when_cancelled(redis_env, cifar_dir, monkeypatch):
    monkeypatch.setenv("VGP_DATA_DIR", str(cifar_dir))
    landscape_id = submission.submit_landscape(FRESH)
    measure = landscape_job.measure_landscape

    def measure_and_cancel(*args, on_point, **kwargs):  # the user clicks Cancel once the second point is stored
        def then_cancel(point, done, total):
            on_point(point, done, total)
            if done == 2:
                assert cancellation.cancel_landscape(landscape_id) is RunStatus.RUNNING

        return measure(*args, on_point=then_cancel, **kwargs)

    monkeypatch.setattr(landscape_job, "measure_landscape", measure_and_cancel)
    work_in_process()
    row = landscape_row(landscape_id)
    assert row["status"] == "cancelled" and row["reason"] == "cancelled by user"
    assert row["points_done"] == 2 and len(row["points"]) == 2


def test_landscape_without_data_fails_in_one_line(redis_env, tmp_path, monkeypatch):
    monkeypatch.setenv("VGP_DATA_DIR", str(tmp_path / "none"))
    monkeypatch.setenv("VGP_DOWNLOAD", "0")
    landscape_id = submission.submit_landscape(FRESH)
    work_in_process()
    row = landscape_row(landscape_id)
    assert row["status"] == "failed" and row["reason"].startswith("no CIFAR-100 at ") and "\n" not in row["reason"]


def test_record_points_is_idempotent(env):
    with db.session_scope() as s:
        landscape_id = landscapes.create_landscape(s, FRESH).id
        point = measure_like(0, 1, 4.6)
        landscapes.record_points(s, landscape_id, [point], 1)
        landscapes.record_points(s, landscape_id, [measure_like(0, 1, 4.5), measure_like(0, 2, float("inf"))], 2)
        points = frames.landscape_points_frame(s, [landscape_id])
    assert points[["i", "j"]].values.tolist() == [[0, 1], [0, 2]] and points["loss"].tolist()[0] == 4.5
    assert points["loss"].isna().tolist() == [False, True]  # a non-finite loss is stored as NULL


def measure_like(i: int, j: int, loss: float):
    from vgp_models.landscape import LandscapePoint

    return LandscapePoint(i, j, -1.0 + i, -1.0 + j, loss, 0.01)


# ---- run folders ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def folder_with_landscape(cifar_dir, tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("results") / "vgg08-bn"
    assert train_into(folder, NET, cifar_dir, resume=False).status == "completed"
    state = torch.load(folder / "best.pt", weights_only=True)
    config = LandscapeConfig(dims=1, points=3, images=8)
    points = measure_landscape(config, NET, state, load_cifar100(cifar_dir, subset=8), torch.device("cpu"))
    write_landscape(folder / "landscape_1d.csv", config, point_rows(points), device="cpu")
    for name in ("last.pt", "best.pt"):
        (folder / name).unlink()
    return folder


def test_a_run_folders_landscape_is_imported_with_the_run(store_url, folder_with_landscape, tmp_path):
    (imported,) = importer.import_folders([folder_with_landscape]).imported
    with db.session_scope() as s:
        frame = frames.landscapes_frame(s, [imported.run_id])
        assert len(store.list_runs(s)) == 1
    assert frame["status"].tolist() == ["completed"] and frame["points_done"].tolist() == [3]
    assert LandscapeConfig.from_dict(frame["config"][0]).run_id == imported.run_id
    assert importer.import_folders([folder_with_landscape]).imported[0].created is False  # again: nothing added
    with db.session_scope() as s:
        assert len(frames.landscapes_frame(s)) == 1

    broken = tmp_path / "broken"
    broken.mkdir()
    for path in folder_with_landscape.iterdir():
        (broken / path.name).write_bytes(path.read_bytes())
    (broken / "landscape_1d.csv").write_text("i,j,alpha,beta,loss,acc\n")
    with pytest.raises(RunFolderError, match="landscape_1d.csv: 0 points, 3 expected"):
        importer.import_folders([tmp_path])  # read in full before anything is written


def test_a_dead_workers_landscape_is_marked_failed_by_its_callback(redis_env):
    landscape_id = submission.submit_landscape(FRESH)
    with db.session_scope() as s:
        job_id = landscapes.require_landscape(s, landscape_id).job_id
        landscapes.transition_landscape(s, landscape_id, (RunStatus.QUEUED,), RunStatus.RUNNING, only_job=job_id)
    job = Job.fetch(job_id, connection=connection.get_redis(), serializer=JSONSerializer)
    callbacks.on_landscape_failure(job, job.connection, RuntimeError, RuntimeError(""), None)  # RQ: abandoned job
    row = landscape_row(landscape_id)
    assert row["status"] == "failed" and row["reason"] == "RuntimeError (the worker stopped mid-job)"
