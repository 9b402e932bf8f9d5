"""The Compare and Results pages under AppTest, on runs written straight into the store with synthetic
`vgp_models.train.EpochMetrics`."""

from __future__ import annotations

import io

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from dashboard import downloads, reads
from tests.dashboard_support import add_run, open_page
from vgp_models.config import TABLE1

pytestmark = pytest.mark.pages  # SQLite only: see tests/conftest.py


def charts_of(at: AppTest) -> int:
    return len(at.get("vega_lite_chart"))


def labels(at: AppTest) -> list[str]:
    return [d.proto.label for d in at.get("download_button")]


def test_compare_opens_on_the_newest_vgg08_and_vgg38_and_flags_vgg38(env):
    add_run("vgg08")
    old38 = add_run("vgg38", layers=39, kind="vanishing")
    vgg08 = add_run("vgg08")
    vgg38 = add_run("vgg38", layers=39, kind="vanishing")
    add_run("vgg38-bn-rc", layers=75)
    at = open_page("views/compare.py")
    assert at.multiselect(key="compare_runs").value == [vgg08, vgg38]
    assert old38 not in at.multiselect(key="compare_runs").value
    (warning,) = at.warning
    assert "Vanishing gradients" in warning.value and f"#{vgg38}" in warning.value
    assert charts_of(at) == 7  # loss, accuracy, gradient flow, ratio, a heatmap per run, gain per layer
    assert labels(at) == ["PNG", "SVG"] * 7 + ["Epochs CSV", "Gradients CSV", "Signals CSV", "Steps CSV"]


def test_compare_all_epochs_gives_one_flow_chart_per_run(env):
    a, b, c = add_run(), add_run("vgg38", layers=39), add_run("vgg38-bn-rc", layers=75)
    at = open_page("views/compare.py")
    at.multiselect(key="compare_runs").set_value([a, b, c]).run()
    assert charts_of(at) == 2 + 1 + 1 + 3 + 1  # loss, accuracy, flow, ratio, 3 heatmaps, gain per layer
    at.segmented_control(key="compare_mode").set_value("All epochs").run()
    assert not at.exception
    assert charts_of(at) == 2 + 3 + 1 + 3 + 1  # a flow chart per run instead of one
    assert "compare_epoch" not in [w.key for w in at.get("select_slider")]


def test_compare_one_epoch_slider_loads_an_epoch_the_page_had_not(env):
    long = add_run(epochs=60)  # the page first loads 50 of its 60 epochs' gradients
    at = open_page("views/compare.py")
    at.multiselect(key="compare_runs").set_value([long]).run()
    slider = at.select_slider(key="compare_epoch")
    assert slider.value == "latest" and slider.options[-1] == "each run's latest"
    at.select_slider(key="compare_epoch").set_value(2).run()  # epochs 1, 3, 4, 6 ... are loaded; 2 is not
    assert not at.exception and charts_of(at) == 6


def test_compare_without_epochs_and_without_a_choice(env):
    from vgp_models.config import RunConfig
    from worker import db, store

    with db.session_scope() as s:
        queued = store.create_run(s, RunConfig.from_preset("vgg38", epochs=5)).id
    at = open_page("views/compare.py")
    assert at.multiselect(key="compare_runs").value == []
    assert "Choose one or more runs" in at.info[0].value
    at.multiselect(key="compare_runs").set_value([queued]).run()
    assert "No epoch has finished yet" in at.info[0].value and charts_of(at) == 0


def test_export_frames_are_long_unsampled_and_escaped(env):
    run_id = add_run(epochs=60, layers=9)  # more epochs than any chart draws
    frames = downloads.export_frames([run_id])
    assert len(frames["epochs"]) == 60 and len(frames["gradients"]) == 60 * 9
    assert list(frames["gradients"].columns) == ["run_id", "run", "epoch", "layer_index", "layer", "abs_mean_last",
                                                 "abs_mean_epoch", "l2", "weight_norm", "update_ratio"]  # fmt: skip
    text = downloads.export_csv([run_id], "gradients")
    back = pd.read_csv(io.StringIO(text))
    assert back["run"].iloc[0].startswith(f"#{run_id} =not-a-formula · ")  # "#..." starts no formula; kept as is
    pd.testing.assert_frame_equal(back.drop(columns="run"), frames["gradients"].drop(columns="run"))


def test_results_rebuilds_table1_from_the_latest_completed_runs(env):
    add_run("vgg08", epochs=2)  # older
    vgg08 = add_run("vgg08", epochs=3, params=59_716, test_acc=0.5, test_loss=1.9)
    add_run("vgg08", epochs=2, status="failed")  # newer but failed
    best = add_run("vgg38-bn-rc", layers=75, lr=1e-2, epochs=2)
    at = open_page("views/results.py")
    accuracy, train, loss, runs = at.dataframe  # narrow tables (tabs) that fit the page, not one wide one
    orders = [list(t.proto.column_order) for t in (accuracy, train, loss, runs)]
    assert orders[0] == ["model", "lr", "run_id", "epochs_run", "subset", "precision", "val_acc_pct",
                         "report_val_acc_pct", "indep_val_acc_pct", "diff_val_acc_pct", "test_acc_pct",
                         "indep_test_acc_pct"]  # fmt: skip
    assert orders[2][2:6] == ["val_loss", "report_val_loss", "indep_val_loss", "diff_val_loss"]
    assert max(map(len, orders)) <= 12
    assert orders[3] == ["model", "lr", "run", "params", "report_params", "best_epoch", "epochs_run", "wall_s",
                         "indep_runs"]  # fmt: skip
    table = accuracy.value
    assert table["model"].tolist() == [row.model for row in TABLE1]
    assert table["run_id"].iloc[0] == vgg08 and table["run_id"].iloc[6] == best
    assert table["run_id"].iloc[1:6].isna().all()
    row = table.iloc[0]  # synthetic run: best val acc at its last epoch, 3 x 1.5 s
    assert (row["best_epoch"], row["epochs_run"], row["wall_s"]) == (3, 3, pytest.approx(4.5))
    assert row["val_acc_pct"] == pytest.approx(6.0) and row["diff_val_acc_pct"] == pytest.approx(6.0 - 46.84)
    assert row["test_acc_pct"] == pytest.approx(50.0) and row["params"] == 59_716
    assert (row["subset"], row["precision"], row["indep_val_acc_pct"]) == ("64 images", "fp32", "47.8–49.1")
    (info,) = at.info
    assert "5 of 7 rows" in info.value
    assert labels(at) == ["Results CSV", "PNG", "SVG"]  # the table's CSV, the val-acc chart's images
    assert len(at.get("vega_lite_chart")) == 1
    csv = pd.read_csv(io.StringIO(downloads.export_csv([vgg08], "epochs")))
    assert csv["epoch"].tolist() == [1, 2, 3]
    results = reads.load_table1()
    assert results["run_id"].iloc[0] == vgg08 and len(results) == 7
