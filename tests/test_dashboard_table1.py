"""dashboard.table1: Table 1 from the database beside the report's numbers; row names and the group name."""

from __future__ import annotations

from datetime import datetime

import pandas as pd
import pytest

from dashboard import table1
from tests.dashboard_support import runs_frame
from vgp_models.config import TABLE1


def test_table1_frame_takes_the_latest_completed_match_at_its_best_epoch():
    runs = runs_frame(
        [
            dict(preset="vgg08"),  # older VGG08 at 1e-3
            dict(preset="vgg08", best_epoch=2, test_acc=0.4, test_loss=2.5),  # the one to use
            dict(preset="vgg08", status="running"),  # newer, not completed
            dict(preset="vgg08", config=dict(lr=1e-2)),  # another lr: no Table 1 row
            dict(preset="vgg38-bn-rc", config=dict(lr=1e-2, shortcut="avgpool")),  # future work, not Table 1
            dict(preset="vgg38-bn-rc", config=dict(lr=1e-2)),  # Table 1's last row
        ]
    )
    epochs = pd.DataFrame(
        [
            dict(run_id=2, epoch=1, train_loss=2.0, train_acc=0.3, val_loss=2.2, val_acc=0.25, seconds=10.0),
            dict(run_id=2, epoch=2, train_loss=1.8, train_acc=0.5, val_loss=2.0, val_acc=0.45, seconds=12.0),
            dict(run_id=2, epoch=3, train_loss=1.7, train_acc=0.55, val_loss=2.1, val_acc=0.44, seconds=11.0),
            dict(run_id=6, epoch=1, train_loss=1.0, train_acc=0.7, val_loss=1.6, val_acc=0.6, seconds=5.0),
        ]
    )
    assert table1.table1_runs(runs) == {0: 2, 6: 6}
    table = table1.table1_frame(runs, epochs)
    assert list(table.columns) == list(table1.TABLE1_COLUMNS)
    assert table["model"].tolist() == [row.model for row in TABLE1]
    vgg08 = table.iloc[0]
    assert (vgg08["run_id"], vgg08["best_epoch"], vgg08["epochs_run"]) == (2, 2, 3)
    assert vgg08["train_loss"] == pytest.approx(1.8) and vgg08["val_acc_pct"] == pytest.approx(45.0)
    assert vgg08["test_acc_pct"] == pytest.approx(40.0) and vgg08["test_loss"] == pytest.approx(2.5)
    assert vgg08["wall_s"] == pytest.approx(33.0)
    assert vgg08["report_val_acc_pct"] == 46.84 and vgg08["diff_val_acc_pct"] == pytest.approx(45.0 - 46.84)
    assert vgg08["diff_train_loss"] == pytest.approx(1.8 - 1.74)
    assert table.iloc[6]["run_id"] == 6 and table.iloc[6]["diff_val_acc_pct"] == pytest.approx(60.0 - 59.16)
    missing = table.iloc[1:6]
    assert missing["run_id"].isna().all() and missing["val_loss"].isna().all()
    assert missing["report_train_loss"].tolist() == [row.train_loss for row in TABLE1[1:6]]


def test_table1_names_and_group():
    assert [table1.table1_name(row.model, row.lr) for row in TABLE1[-2:]] == ["VGG38 BN lr 1e-2", "VGG38 BN+RC lr 1e-2"]
    assert table1.table1_group(datetime(2026, 11, 27, 9, 5, 3)) == "Table 1 · 2026-11-27 09:05:03"


def test_the_run_that_stands_for_a_row_full_data_then_epochs_then_completed_then_fp32():
    full8 = dict(epochs=8, amp=True)
    runs = runs_frame(
        [
            dict(preset="vgg08", config=full8, epochs_done=8),  # 1: the reference results' VGG08 (bf16)
            dict(preset="vgg08", config=dict(subset=2000, epochs=2), epochs_done=2),  # 2: a smoke run, newer
            dict(preset="vgg08", config=dict(epochs=8), epochs_done=8, status="interrupted"),  # 3: fp32, stopped
            dict(preset="vgg38", config=dict(subset=2000), epochs_done=20),  # 4: many epochs on a subset
            dict(preset="vgg38", config=full8, epochs_done=3, status="running"),  # 5: full data, 3 epochs so far
            dict(preset="vgg38", status="queued", epochs_done=0),  # 6: nothing to show yet
        ]
    )
    assert table1.table1_candidates(runs) == {0: [1, 3, 2], 1: [5, 4]}  # completed before an interrupted tie
    assert table1.table1_runs(runs) == {0: 1, 1: 5}
    assert table1.default_compare(runs) == [1, 5]
    more = runs_frame([dict(preset="vgg08", config=full8, epochs_done=8),
                       dict(preset="vgg08", config=dict(epochs=8), epochs_done=8)])  # fmt: skip
    assert table1.table1_runs(more) == {0: 2}  # otherwise equal: fp32 before bf16
    picks = {0: 2, 1: 6}  # the user's choice holds where it is a candidate; 6 has no result
    assert table1.table1_runs(runs, picks) == {0: 2, 1: 5}
    assert table1.default_compare(runs, picks) == [2, 5]
    table = table1.table1_frame(runs.assign(title=lambda r: "#" + r["id"].astype(str)), pd.DataFrame(
        columns=["run_id", "epoch", "train_loss", "train_acc", "val_loss", "val_acc", "seconds"]), picks)  # fmt: skip
    assert table.loc[0, ["run", "subset", "precision"]].tolist() == ["#2", "2,000 images", "fp32"]
    assert table.loc[1, ["run", "subset", "precision"]].tolist() == ["#5", "full", "bf16"]
    reproduced = ["indep_runs", "indep_val_acc_pct", "indep_test_acc_pct"]
    assert table.loc[0, reproduced].tolist() == ["7", "47.8–49.1", "48.2–50.0"]
    assert table.loc[3, "indep_val_acc_pct"] == "52.7"  # VGG38 RC: one reproduction, a single number
    assert table["run"].iloc[2:].eq("").all()
