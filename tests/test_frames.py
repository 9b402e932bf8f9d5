"""worker.frames: the store read as pandas frames (epochs, gradients, runs with their label and title, the first and
last layers' gradients per epoch) on real SQLite and Postgres, and a run's title."""

from __future__ import annotations

import pytest

from tests.store_support import CONFIG, LAYERS, metrics, new_run, seed_two_runs
from worker import db, frames, store


def test_run_title_names_a_run_by_its_settings_once():
    bn_rc = {"depth": 38, "batch_norm": True, "residual": True}
    assert frames.run_title(3, "VGG38 BN+RC", bn_rc) == "#3 VGG38 BN+RC lr 1e-3"  # the default name, not twice
    assert frames.run_title(3, "sweep-a", {**bn_rc, "lr": 1e-2}) == "#3 sweep-a · VGG38 BN+RC lr 1e-2"
    smoke = {"depth": 8, "epochs": 2, "subset": 2000, "amp": True}
    assert frames.run_title(8, "VGG08 lr 1e-3", smoke) == "#8 VGG08 lr 1e-3 · 2 epochs · 2,000 images · bf16"
    assert frames.run_title(9, "VGG38 + Kaiming init", {"depth": 38, "init": "kaiming"}) == "#9 VGG38 Kaiming lr 1e-3"
    assert frames.run_title(4, None, {"depth": 9}) == "#4 invalid config"
    assert frames.run_title(5) == "#5"


def test_frames_for_several_runs_and_none(db_url: str) -> None:
    a, b = new_run(db_url), new_run(db_url)
    with db.session_scope(db_url) as s:
        store.record_epoch(s, b, metrics(1))
        store.record_epoch(s, a, metrics(1))
        store.record_epoch(s, a, metrics(2))
    with db.session_scope(db_url) as s:
        both = frames.epochs_frame(s, [b, a])
        assert both[["run_id", "epoch"]].values.tolist() == [[a, 1], [a, 2], [b, 1]]
        empty = frames.epochs_frame(s, [])
        assert empty.empty and list(empty.columns) == list(frames.EPOCH_COLUMNS)
        only_two = frames.gradients_frame(s, [a], epochs=[2])
        assert set(only_two["epoch"]) == {2} and len(only_two) == len(LAYERS)
        runs = frames.runs_frame(s, [a, b])
        assert sorted(runs["id"]) == sorted([a, b]) and set(runs["label"]) == {CONFIG.label}


def test_gradient_ends_frame_every_epoch_and_latest(database_url):
    from worker import db

    a, b = seed_two_runs(database_url)
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

    a, b = seed_two_runs(database_url)
    with db.session_scope(database_url) as s:
        runs = frames.runs_frame(s, [b], extra=("note", "config"))
        grads = frames.gradients_frame(s, [a], epochs=[2], columns=("run_id", "epoch", "layer_index", "abs_mean_last"))
        with pytest.raises(ValueError, match="unknown gradient column"):
            frames.gradients_frame(s, [a], columns=("nope",))
    assert runs["id"].tolist() == [b] and runs["note"].tolist() == ["n"] and runs["config"].iloc[0]["depth"] == 8
    assert list(runs.columns)[-2:] == ["label", "title"]
    assert list(grads.columns) == ["run_id", "epoch", "layer_index", "abs_mean_last"] and len(grads) == 4
    db.dispose_engines()
