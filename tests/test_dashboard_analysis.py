"""The dashboard's plain functions: the vanishing-gradient flag, Table 1 from the database, the Compare default,
the Runs table, exports."""

from __future__ import annotations

import io
import math
from datetime import datetime

import pandas as pd
import pytest

from dashboard import downloads, progress, reference, runs_table, table1, vanishing
from vgp_models.config import TABLE1, RunConfig
from vgp_models.cures import CURES
from vgp_models.gradstats import weight_labels
from vgp_models.nets import network
from worker.exports import to_csv


def ends(rows: list[tuple[int, int, float, float]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["run_id", "epoch", "first", "last"])


def test_flag_uses_each_runs_latest_epoch():
    frame = ends(
        [
            (1, 1, 1e-5, 1e-1),  # below 1e-3 at epoch 1 ...
            (1, 2, 5e-4, 1e-1),  # ... but not at its latest: 5e-3
            (2, 1, 1e-1, 1e-1),
            (2, 3, 1e-18, 2e-4),  # VGG38: vanishing at its latest
        ]
    )
    flags = vanishing.vanishing_gradients(frame)
    assert flags.to_dict() == {1: False, 2: True}
    assert vanishing.latest_ratios(frame).to_dict() == pytest.approx({1: 5e-3, 2: 5e-15})


@pytest.mark.parametrize(
    "first,last,flagged",
    [
        (0.99e-3, 1.0, True),
        (1e-3, 1.0, False),  # exactly the threshold is not below it
        (0.0, 1e-4, True),  # a dead input layer
        (1e-9, 0.0, False),  # no last-layer gradient: undefined, not flagged
        (math.nan, 1.0, False),  # a non-finite value stored as NULL
    ],
)
def test_flag_threshold_and_edge_cases(first, last, flagged):
    assert bool(vanishing.vanishing_gradients(ends([(7, 1, first, last)]))[7]) is flagged


def runs_frame(rows: list[dict]) -> pd.DataFrame:
    """A runs frame like reads.load_runs: newest first, with config dicts and labels."""
    out = []
    for i, row in enumerate(rows, start=1):
        config = RunConfig.from_preset(row.pop("preset"), **row.pop("config", {})).to_dict()
        out.append(
            dict(
                id=i, name=None, status="completed", config=config, label=RunConfig.from_dict(config).label,
                epochs_done=1, epochs_total=1, params=1000 * i, best_epoch=1, test_loss=4.0, test_acc=0.05,
                group_name=None, tags=[], best_val_acc=0.1, device="cpu", worker_name="w", created_at=None,
            ) | row
        )  # fmt: skip
    return pd.DataFrame(out).iloc[::-1].reset_index(drop=True)


def test_default_compare_is_the_newest_vgg08_and_vgg38():
    runs = runs_frame(
        [
            dict(preset="vgg38"),
            dict(preset="vgg08"),
            dict(preset="vgg38"),  # newest VGG38
            dict(preset="vgg08", config=dict(width=64)),  # not the reference VGG08
            dict(preset="vgg38-bn-rc"),
            dict(preset="vgg08", epochs_done=0),  # no epoch yet
        ]
    )
    assert reference.default_compare(runs) == [2, 3]


def test_default_compare_falls_back_to_the_newest_two_with_epochs():
    runs = runs_frame([dict(preset="vgg38-bn"), dict(preset="vgg38-rc"), dict(preset="vgg38-bn-rc", epochs_done=0)])
    assert reference.default_compare(runs) == [1, 2]
    assert reference.default_compare(runs.iloc[:0]) == []


def test_filter_runs_by_status_group_and_tag():
    runs = runs_frame(
        [
            dict(preset="vgg08", group_name="a", tags=["x"]),
            dict(preset="vgg08", group_name="b", tags=["x", "y"], status="failed"),
            dict(preset="vgg08", group_name="a", tags=[]),
        ]
    )
    assert runs_table.filter_runs(runs)["id"].tolist() == [3, 2, 1]
    assert runs_table.filter_runs(runs, statuses=["failed"])["id"].tolist() == [2]
    assert runs_table.filter_runs(runs, groups=["a"])["id"].tolist() == [3, 1]
    assert runs_table.filter_runs(runs, tags=["y", "z"])["id"].tolist() == [2]
    assert runs_table.filter_runs(runs, groups=["a"], tags=["x"])["id"].tolist() == [1]


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


def test_eta_from_mean_epoch_time():
    runs = runs_frame([dict(preset="vgg08", status="running", epochs_done=2, epochs_total=10), dict(preset="vgg08")])
    epochs = pd.DataFrame(dict(run_id=[1, 1, 2], seconds=[10.0, 20.0, 5.0]))
    assert progress.eta_seconds(runs, epochs) == {1: pytest.approx(120.0)}


def test_runs_table_has_every_column_and_the_flag():
    runs = runs_frame([dict(preset="vgg08"), dict(preset="vgg38", status="running", epochs_done=1, epochs_total=4)])
    table = runs_table.runs_table(runs, {2: 90.0}, pd.Series({2: True, 1: False}), lambda s: f"{s:.0f} s")
    assert table["gradients"].tolist() == ["vanishing", ""]
    assert table["eta"].tolist() == ["90 s", ""]
    assert runs_table.runs_table(runs, {}, pd.Series(dtype=bool), str)["eta"].tolist() == ["after epoch 1", ""]
    assert table["progress"].tolist() == [0.25, 1.0]
    for column in ("name", "group", "tags", "status", "best val acc", "params", "device", "worker"):
        assert column in table


def test_export_round_trip_and_formula_escaping():
    epochs = pd.DataFrame(
        dict(run_id=[1, 1, 2], epoch=[1, 2, 1], train_loss=[4.6, -0.5, 4.5], val_acc=[0.01, 0.02, 0.011])
    )
    names = {1: '#1 =HYPERLINK("http://x")', 2: "#2 VGG38"}
    frame = downloads.with_run_names(epochs, names)
    assert list(frame.columns) == ["run_id", "run", "epoch", "train_loss", "val_acc"]
    back = pd.read_csv(io.StringIO(to_csv(frame)))
    pd.testing.assert_frame_equal(back.drop(columns="run"), epochs)  # numbers unchanged, negatives included
    assert back["run"].tolist() == frame["run"].tolist()  # '#...' names are not formulas

    evil = downloads.with_run_names(epochs.iloc[:1], {1: "=cmd|' /C calc'!A0"})
    assert pd.read_csv(io.StringIO(to_csv(evil)))["run"].tolist() == ["'=cmd|' /C calc'!A0"]
    for prefix in "=+-@":
        text = to_csv(downloads.with_run_names(epochs.iloc[:1], {1: f"{prefix}x"}))
        assert f",'{prefix}x," in text


# ---- the cures (issue 11): Table 1 and the Compare default keep to the reference; the flag's ends and cells --


@pytest.mark.parametrize("cure", [k for k in CURES if k not in ("none", "BN", "RC", "BN+RC")])
def test_a_cured_vgg38_is_not_table1s_vgg38(cure):
    runs = runs_frame([dict(preset="vgg38"), dict(preset="vgg38", config=CURES[cure])])
    assert table1.table1_runs(runs) == {1: 1}  # the plain one, though the cured one is newer
    runs = runs_frame([dict(preset="vgg38"), dict(preset="vgg08"), dict(preset="vgg38", config=CURES[cure])])
    assert reference.default_compare(runs) == [2, 1]  # VGG08 against the plain VGG38, not the newer cured one


def test_a_config_stored_before_the_cures_still_matches_its_row():
    old = {k: v for k, v in RunConfig.from_preset("vgg38").to_dict().items() if k not in reference.REFERENCE}
    assert reference.config_is(old, "vgg38", 1e-3)


@pytest.mark.parametrize("bn", [False, True])
def test_densenet_gradient_ends_are_its_stem_conv_and_linear_layer(bn):
    # frames.gradient_ends_frame takes a run's lowest and highest layer_index: the first and last weight label.
    labels = weight_labels(network(RunConfig(arch="densenet", depth=38, batch_norm=bn)))
    assert (labels[0], labels[-1]) == ("input_conv_conv_0", "logit_linear_layer")  # as VGG38's: one chart, one flag


def test_runs_table_says_when_the_latest_epoch_was_amplified():
    amp = dict(grad_amp_factor=2.0, grad_amp_epochs="first:2")
    done = (2, 3, 1)  # epochs 1 and 2 amplified
    runs = runs_frame([*(dict(preset="vgg38", config=amp, epochs_done=d) for d in done),
                       dict(preset="vgg38", epochs_done=2)])  # fmt: skip
    flags = pd.Series({1: True, 2: True, 3: False, 4: True})
    table = runs_table.runs_table(runs, {}, flags, str).set_index("id")
    assert table["gradients"].to_dict() == {1: "vanishing (amplified)", 2: "vanishing", 3: "amplified",
                                            4: "vanishing"}  # fmt: skip
    assert "GradAmp x2" in table.loc[1, "model"] and table.loc[4, "model"] == "VGG38"
