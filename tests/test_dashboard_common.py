"""The helpers every page shares: durations, the progress line, run titles (worker.frames), error lines, the
store reads."""

from __future__ import annotations

import pytest
from sqlalchemy.exc import OperationalError

from dashboard import display, errors, progress, reads, vanishing
from vgp_models.config import ConfigError
from worker import frames
from worker.connection import QueueError


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
    assert display.fmt_duration(seconds) == text


def run(status, done=2, total=10):
    return dict(status=status, epochs_done=done, epochs_total=total)


def test_progress_running_has_eta_from_mean_epoch_time():
    fraction, text = progress.bar(run("running"), [10.0, 20.0])
    assert fraction == pytest.approx(0.2)
    assert text == "Epoch 2 of 10 · ETA 2 min 00 s"


def test_progress_running_before_first_epoch():
    assert progress.bar(run("running", done=0), []) == (0.0, "Epoch 0 of 10 · ETA after the first epoch")


def test_progress_queued_and_finished():
    assert "waiting for a worker" in progress.bar(run("queued", done=0), [])[1]
    fraction, text = progress.bar(run("completed", done=10), [3.0] * 10)
    assert fraction == 1.0 and text == "Epoch 10 of 10 · completed · trained for 30 s"
    assert progress.bar(run("diverged", done=3), [1.0])[1].startswith("Epoch 3 of 10 · diverged")


def test_run_title_hides_default_name():
    label = frames.config_label({"depth": 38, "batch_norm": True, "residual": True})
    assert frames.run_title(3, "VGG38 BN+RC", label) == "#3 VGG38 BN+RC"
    assert frames.run_title(3, "sweep-a", label) == "#3 sweep-a · VGG38 BN+RC"
    assert frames.run_title(4, None, frames.config_label({"depth": 9})) == "#4 invalid config"
    assert frames.run_title(5) == "#5"


def test_expected_errors():
    assert errors.is_expected(ConfigError("x"))
    assert errors.is_expected(QueueError("redis down"))
    assert errors.is_expected(OperationalError("SELECT 1", {}, Exception("no such table: runs")))
    assert not errors.is_expected(KeyError("bug"))
    assert errors.first_line(OperationalError("SELECT 1", {}, Exception("boom"))).count("\n") == 0


# ---- the store reads the pages use ----------------------------------------------------------------


def _seed(url: str) -> tuple[int, int]:
    """Two runs: 3 epochs of 4 layers, and 2 epochs of 6 layers."""
    from types import SimpleNamespace

    from vgp_models.config import RunConfig
    from worker import db, store

    db.upgrade_database(url)
    ids = []
    for epochs, layers in ((3, 4), (2, 6)):
        with db.session_scope(url) as s:
            run_id = store.create_run(s, RunConfig.from_preset("vgg08", epochs=epochs), store.RunMeta(note="n")).id
            for e in range(1, epochs + 1):
                grads = [SimpleNamespace(layer_index=i, layer=f"l{i}", abs_mean_last=10.0**-i / e, abs_mean_epoch=1.0,
                                         l2=2.0) for i in range(layers)]  # fmt: skip
                metrics = SimpleNamespace(epoch=e, train_loss=1.0, train_acc=0.5, val_loss=1.0, val_acc=0.5, lr=1e-3,
                                          seconds=1.0, grads=grads)  # fmt: skip
                store.record_epoch(s, run_id, metrics)
        ids.append(run_id)
    return ids[0], ids[1]


def test_gradient_ends_frame_every_epoch_and_latest(database_url):
    from worker import db

    a, b = _seed(database_url)
    with db.session_scope(database_url) as s:
        ends = frames.gradient_ends_frame(s, [a, b])
        latest = frames.gradient_ends_frame(s, latest=True)
        only_b = frames.gradient_ends_frame(s, [b])
    assert list(ends.columns) == ["run_id", "epoch", "first", "last"]
    assert ends[["run_id", "epoch"]].values.tolist() == [[a, 1], [a, 2], [a, 3], [b, 1], [b, 2]]
    assert ends["first"].tolist() == pytest.approx([1.0, 0.5, 1 / 3, 1.0, 0.5])
    assert ends["last"].tolist() == pytest.approx([1e-3, 5e-4, 1e-3 / 3, 1e-5, 5e-6])
    assert latest[["run_id", "epoch"]].values.tolist() == [[a, 3], [b, 2]]
    assert set(only_b["run_id"]) == {b}
    db.dispose_engines()


def test_runs_frame_extra_columns_and_gradients_frame_columns(database_url):
    from worker import db

    a, b = _seed(database_url)
    with db.session_scope(database_url) as s:
        runs = frames.runs_frame(s, [b], extra=("note", "config"))
        grads = frames.gradients_frame(s, [a], epochs=[2], columns=("run_id", "epoch", "layer_index", "abs_mean_last"))
        with pytest.raises(ValueError, match="unknown gradient column"):
            frames.gradients_frame(s, [a], columns=("nope",))
    assert runs["id"].tolist() == [b] and runs["note"].tolist() == ["n"] and runs["config"].iloc[0]["depth"] == 8
    assert list(runs.columns)[-2:] == ["label", "title"]
    assert list(grads.columns) == ["run_id", "epoch", "layer_index", "abs_mean_last"] and len(grads) == 4
    db.dispose_engines()


def test_fetch_compare_reads_the_drawn_epochs_and_every_ratio(database_url):
    from worker import db

    a, b = _seed(database_url)
    with db.session_scope(database_url) as s:
        epochs, grads, ends = reads.fetch_compare(s, [a, b])
        runs = frames.runs_frame(s, [a, b])
    assert len(epochs) == 5 and set(grads.columns) == set(reads.FLOW_COLUMNS) and len(grads) == 3 * 4 + 2 * 6
    assert vanishing.vanishing_gradients(ends).to_dict() == {a: False, b: False}  # 1e-3 is not below 1e-3
    assert reads.versions(runs) == (db.database_url(), (b, 2, "queued"), (a, 3, "queued"))
    db.dispose_engines()
