"""The forward signal and the weight updates on their way out of training: the store (real SQLite and Postgres),
run folders (signals.csv, gradients.csv's two columns; older folders without them still read) and the importer."""

from __future__ import annotations

import csv
import math
import shutil
from pathlib import Path

import pytest

from tests.store_support import metrics, new_run
from vgp_models.metrics import LayerSignal
from vgp_models.run_folder import GRADIENTS_HEADER_V1, SIGNALS_CSV, RunFolderError
from vgp_models.run_folder_reader import read_run_folder
from worker import db, frames, importer, store


def rows_of(path: Path) -> list[list[str]]:
    with open(path, newline="") as f:
        return list(csv.reader(f))


def write_rows(path: Path, rows: list[list[object]]) -> None:
    with open(path, "w", newline="") as f:
        csv.writer(f).writerows(rows)


@pytest.fixture
def run_folder(trained_run_folder: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(trained_run_folder, tmp_path / trained_run_folder.name))


def test_record_epoch_writes_signals_and_updates_that_frames_read(db_url: str) -> None:
    run_id = new_run(db_url)
    epoch = metrics(1)
    for g in epoch.grads:
        g.weight_norm, g.update_ratio = 2.0 + g.layer_index, 0.1 * (g.layer_index + 1)
    epoch.grads[-1].update_ratio = math.nan  # a weight that started at zero: stored as NULL, read as NaN
    epoch.signals = [LayerSignal(0, "input_conv_conv_0", -0.25, 0.5, 0.75), LayerSignal(1, "input_conv_act_0", 0.1,
                                                                                      0.3, 0.75)]  # fmt: skip
    with db.session_scope(db_url) as s:
        store.record_epoch(s, run_id, epoch)
        store.record_epoch(s, run_id, metrics(2))  # an epoch recorded without them
    with db.session_scope(db_url) as s:
        signals = frames.signals_frame(s, [run_id])
        grads = frames.gradients_frame(s, [run_id])
        only = frames.signals_frame(s, [run_id], epochs=[1], columns=("layer", "std"))
        with pytest.raises(ValueError, match="unknown signal column"):
            frames.signals_frame(s, [run_id], columns=("nope",))
    assert list(signals.columns) == list(frames.SIGNAL_COLUMNS)
    assert signals[["epoch", "layer_index", "layer"]].values.tolist() == [
        [1, 0, "input_conv_conv_0"], [1, 1, "input_conv_act_0"]]  # fmt: skip
    assert signals[["mean", "std", "negative_share"]].values.tolist() == [[-0.25, 0.5, 0.75], [0.1, 0.3, 0.75]]
    assert only.values.tolist() == [["input_conv_conv_0", 0.5], ["input_conv_act_0", 0.3]]
    first = grads[grads["epoch"] == 1]
    assert first["weight_norm"].tolist() == [2.0, 3.0, 4.0]
    assert first["update_ratio"].tolist()[:2] == [0.1, 0.2] and math.isnan(first["update_ratio"].iloc[2])
    assert grads[grads["epoch"] == 2][["weight_norm", "update_ratio"]].isna().all().all()


def test_run_folder_holds_them_and_the_import_keeps_them(store_url: str, run_folder: Path) -> None:
    signal_rows, grad_rows = rows_of(run_folder / SIGNALS_CSV), rows_of(run_folder / "gradients.csv")
    assert signal_rows[0] == ["epoch", "layer_index", "layer", "mean", "std", "negative_share"]
    assert grad_rows[0][-2:] == ["weight_norm", "update_ratio"]
    contents = read_run_folder(run_folder)
    n_outputs = len(contents.signals) // 2
    assert n_outputs == 1 + 1 + 1 + 3 * 4  # input conv, BN and act; per reduction block two convs and two acts
    assert all(g["weight_norm"] > 0 and g["update_ratio"] > 0 for g in contents.gradients)
    assert any(s["mean"] < 0 for s in contents.signals)  # conv outputs may be negative on average

    (imported,) = importer.import_folders([run_folder]).imported
    with db.session_scope() as s:
        signals = frames.signals_frame(s, [imported.run_id])
        grads = frames.gradients_frame(s, [imported.run_id])
    assert signals[["epoch", "layer_index", "layer"]].values.tolist() == [
        [int(r[0]), int(r[1]), r[2]] for r in signal_rows[1:]]  # fmt: skip
    assert signals[["mean", "std", "negative_share"]].values.tolist() == [
        [float(v) for v in r[3:]] for r in signal_rows[1:]]  # fmt: skip
    assert grads[["weight_norm", "update_ratio"]].values.tolist() == [[float(v) for v in r[6:]] for r in grad_rows[1:]]


def test_a_folder_from_before_them_still_imports(store_url: str, run_folder: Path) -> None:
    (run_folder / SIGNALS_CSV).unlink()
    write_rows(run_folder / "gradients.csv", [r[:6] for r in rows_of(run_folder / "gradients.csv")])
    assert rows_of(run_folder / "gradients.csv")[0] == GRADIENTS_HEADER_V1
    contents = read_run_folder(run_folder)
    assert contents.signals == [] and all(g["weight_norm"] is g["update_ratio"] is None for g in contents.gradients)
    (imported,) = importer.import_folders([run_folder]).imported
    with db.session_scope() as s:
        assert frames.signals_frame(s, [imported.run_id]).empty
        grads = frames.gradients_frame(s, [imported.run_id])
    assert len(grads) == 2 * 9 and grads[["weight_norm", "update_ratio"]].isna().all().all()


def test_an_unmeasured_update_may_be_empty(run_folder: Path) -> None:
    rows = rows_of(run_folder / "gradients.csv")
    rows[3][7] = ""
    write_rows(run_folder / "gradients.csv", rows)
    assert read_run_folder(run_folder).gradients[2]["update_ratio"] is None


def signals_short(folder: Path) -> str:
    rows = rows_of(folder / SIGNALS_CSV)
    write_rows(folder / SIGNALS_CSV, rows[:-1])
    n = (len(rows) - 1) // 2
    return f"signals.csv: {2 * n - 1} rows, 2 epochs of {n} layers expected (summary.csv has 2 epochs)"


def signals_out_of_order(folder: Path) -> str:
    rows = rows_of(folder / SIGNALS_CSV)
    n = (len(rows) - 1) // 2
    labels = [r[2] for r in rows[1 : n + 1]]
    rows[n + 2], rows[n + 3] = rows[n + 3], rows[n + 2]  # epoch 2's layers 1 and 2
    write_rows(folder / SIGNALS_CSV, rows)
    return f"signals.csv line {n + 3}: epoch 2 layer 2 ({labels[2]!r}), expected epoch 2 layer 1 ({labels[1]!r})"


def share_over_one(folder: Path) -> str:
    rows = rows_of(folder / SIGNALS_CSV)
    rows[4][5] = "1.5"
    write_rows(folder / SIGNALS_CSV, rows)
    return "signals.csv line 5: negative_share is '1.5', not a finite number in 0..1"


def negative_std(folder: Path) -> str:
    rows = rows_of(folder / SIGNALS_CSV)
    rows[2][4] = "-0.1"
    write_rows(folder / SIGNALS_CSV, rows)
    return "signals.csv line 3: std is '-0.1', not a finite number >= 0"


def bad_update_ratio(folder: Path) -> str:
    rows = rows_of(folder / "gradients.csv")
    rows[2][7] = "nan"
    write_rows(folder / "gradients.csv", rows)
    return "gradients.csv line 3: update_ratio is 'nan', not a finite number >= 0"


def signals_columns(folder: Path) -> str:
    rows = rows_of(folder / SIGNALS_CSV)
    write_rows(folder / SIGNALS_CSV, [[c for c in r[:5]] for r in rows])
    return "signals.csv line 1: columns epoch,layer_index,layer,mean,std,negative_share expected, got "


@pytest.mark.parametrize(
    "breaker", [signals_short, signals_out_of_order, share_over_one, negative_std, bad_update_ratio, signals_columns]
)
def test_a_malformed_signals_or_update_column_is_one_line(run_folder: Path, breaker) -> None:
    expected = breaker(run_folder)
    with pytest.raises(RunFolderError) as e:
        read_run_folder(run_folder)
    assert str(e.value).startswith(f"{run_folder}/{expected}") and "\n" not in str(e.value)
