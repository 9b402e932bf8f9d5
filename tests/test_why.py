"""Why it vanishes, on the dashboard: the gain per layer against a hand computation, the chart builders' data and
scales, and the Run and Compare pages' section under AppTest with runs that carry a forward signal and weight
updates (and with runs recorded before them)."""

from __future__ import annotations

import json
import math

import pandas as pd
import pytest

from dashboard import charts, display
from dashboard.gains import is_bn, layer_gains, median_gains
from tests.dashboard_support import add_run, open_page
from tests.run_support import epoch_metrics
from vgp_models.config import RunConfig
from vgp_models.metrics import LayerGrad, LayerSignal
from worker import db, store

CONV_LABELS = ["input_conv_conv_0", "input_conv_bn_0", "block_0_0_conv_0", "block_0_0_bn_0", "block_0_0_conv_1",
               "logit_linear_layer"]  # fmt: skip


def grads(values_by_run: dict[int, list[float]], epochs: int = 1) -> pd.DataFrame:
    rows = [{"run_id": run_id, "epoch": e, "layer_index": i, "layer": CONV_LABELS[i], "abs_mean_last": v / e}
            for run_id, values in values_by_run.items() for e in range(1, epochs + 1)
            for i, v in enumerate(values)]  # fmt: skip
    return pd.DataFrame(rows)


def test_gain_is_each_layer_over_the_next_without_bn() -> None:
    frame = grads({1: [1e-4, 5.0, 2e-4, 7.0, 4e-4, 8e-4], 2: [1.0, 9.0, 0.0, 9.0, 1.0, 1.0]}, epochs=2)
    gains = layer_gains(frame.sample(frac=1, random_state=0))  # the function sorts for itself
    one = gains[(gains["run_id"] == 1) & (gains["epoch"] == 2)]
    assert one["layer"].tolist() == ["input_conv_conv_0", "block_0_0_conv_0", "block_0_0_conv_1"]
    assert one["gain"].tolist() == pytest.approx([0.5, 0.5, 0.5])  # 1e-4/2e-4, 2e-4/4e-4, 4e-4/8e-4
    two = gains[(gains["run_id"] == 2) & (gains["epoch"] == 1)]["gain"].tolist()
    assert math.isnan(two[0]) and math.isnan(two[1]) and two[2] == 1.0  # a zero has no ratio on either side
    median = median_gains(gains)
    assert median["run_id"].tolist() == [1, 2] and median["epoch"].tolist() == [2, 2]
    assert median["median_gain"].tolist() == pytest.approx([0.5, 1.0]) and median["layers"].tolist() == [3, 1]
    assert median["geometric_gain"].tolist() == pytest.approx([0.5, 1.0])
    uneven = median_gains(layer_gains(grads({1: [1e-6, 5.0, 1e-3, 7.0, 1e-3, 1e-3]})))  # 1e-3 at one of 3 layers
    assert uneven["median_gain"].item() == pytest.approx(1.0) and uneven["geometric_gain"].item() == pytest.approx(0.1)
    assert [is_bn(label) for label in ("bn", "block_0_0_bn_1", "reduction_block_2_shortcut_bn", "abnormal_conv")] == [
        True, True, True, False]  # fmt: skip


def plotted(chart) -> pd.DataFrame:
    (values,) = chart.to_dict()["datasets"].values()
    return pd.DataFrame(values)


def signal_frame(run_ids=(1,), epochs: int = 3, layers: int = 4) -> pd.DataFrame:
    return pd.DataFrame([
        {"run_id": r, "epoch": e, "layer_index": i, "layer": f"l{i}", "mean": -0.1 * i,
         "std": 10.0**-i if i < 3 else 0.0, "negative_share": 0.5}
        for r in run_ids for e in range(1, epochs + 1) for i in range(layers)
    ])  # fmt: skip


def test_per_layer_chart_scales_and_puts_exact_zeros_at_the_floor() -> None:
    frame = signal_frame()  # std 1, 0.1, 0.01 and an exact 0 (an output that no longer varies)
    std = charts.per_layer_chart(frame, "std")
    spec = std.to_dict()
    line, points = spec["layer"]
    assert line["mark"]["type"] == "line" and points["encoding"]["shape"]["field"] == "zero"
    assert line["encoding"]["y"]["scale"]["type"] == "log"
    assert line["encoding"]["x"]["scale"]["domain"] == ["l0", "l1", "l2", "l3"]
    data = plotted(std)
    assert len(data) == 3 * 4 and data["zero"].sum() == 3  # every epoch's zero kept, flagged
    assert data.loc[data["zero"], "shown"].tolist() == pytest.approx([1e-3] * 3)  # a decade below 0.01
    assert (data.loc[data["zero"], "std"] == 0).all() and "exact zero" in spec["title"]
    mean = charts.per_layer_chart(frame, "mean", epoch=2)
    assert mean.to_dict()["layer"][0]["encoding"]["y"]["scale"]["type"] == "linear"
    assert len(plotted(mean)) == 4 and "epoch 2" in mean.to_dict()["title"] and not plotted(mean)["zero"].any()
    two = signal_frame(run_ids=(1, 2)).assign(run=lambda f: f["run_id"].map({1: "VGG08", 2: "VGG38"}))
    several = charts.per_layer_chart(charts.latest_rows(two), "negative_share")
    assert several.to_dict()["layer"][0]["encoding"]["color"]["field"] == "run"
    assert set(plotted(several)["epoch"]) == {3}
    gain = charts.gain_chart(layer_gains(grads({1: [1e-4, 5.0, 2e-4, 7.0, 4e-4, 8e-4]})))
    assert [layer["mark"]["type"] for layer in gain.to_dict()["layer"]] == ["line", "point", "rule"]


def test_heatmap_stays_under_altairs_row_limit_and_greys_zeros() -> None:
    frame = signal_frame(epochs=100, layers=111)
    heatmap = charts.layer_heatmap(frame, "std")
    data = plotted(heatmap)
    assert len(data) <= charts.HEATMAP_CELLS and data["epoch"].nunique() == charts.HEATMAP_CELLS // 111
    assert {1, 100} <= set(data["epoch"])
    cells, zeros = heatmap.to_dict()["layer"]
    assert zeros["mark"] == {"type": "rect", "color": "lightgrey"} and "grey: exactly 0" in heatmap.to_dict()["title"]
    assert data["zero"].sum() == (111 - 3) * data["epoch"].nunique()


def add_measured_run(preset: str, outputs: int, layers: int, epochs: int = 2) -> int:
    """A run written into the store with a forward signal and weight updates, as training records them."""
    config = RunConfig.from_preset(preset, epochs=epochs, subset=64)
    with db.session_scope() as session:
        run_id = store.create_run(session, config, store.RunMeta(name="*measured*")).id
        for e in range(1, epochs + 1):
            grads = [LayerGrad(i, f"layer_{i}", 1e-3 * 0.7 ** (layers - i), 1e-3, 0.1, 1.0 + i, 0.1 / (i + 1))
                     for i in range(layers)]  # fmt: skip
            signals = [LayerSignal(i, f"out_{i}", 0.01 * i, 0.5**i, 0.5) for i in range(outputs)]
            store.record_epoch(session, run_id, epoch_metrics(e, epochs, val_loss=4.0, grads=grads, signals=signals))
        store.set_status(session, run_id, "completed")
    return run_id


def chart_titles(at) -> list[str]:
    return [json.dumps(json.loads(c.proto.spec).get("title", "")) for c in at.get("vega_lite_chart")]


@pytest.mark.pages
def test_run_page_draws_every_statistic(env) -> None:
    run_id = add_measured_run("vgg38", outputs=75, layers=39)
    at = open_page("views/run.py", run=run_id)
    assert len(at.get("vega_lite_chart")) == 3 + 6  # loss, accuracy, flow; signal, update, gain and their heatmaps
    for key, options in ((f"why-run-{run_id}-signal", ["mean", "negative_share", "std"]),
                         (f"why-run-{run_id}-update", ["weight_norm", "update_ratio"])):  # fmt: skip
        for option in options:
            at.segmented_control(key=key).set_value(option).run()
            assert not at.exception and len(at.get("vega_lite_chart")) == 9
    at.toggle(key=f"why-one-epoch-{run_id}").set_value(True).run()
    assert not at.exception and at.select_slider(key=f"why-epoch-{run_id}").value == 2
    assert any("epoch 2" in title for title in chart_titles(at))
    assert any(display.plain("Median at epoch 2: 0.700, geometric mean 0.700, over 38 layers") in c.value
               for c in at.caption)  # fmt: skip


@pytest.mark.pages
def test_compare_puts_runs_side_by_side_and_older_runs_say_what_they_lack(env) -> None:
    measured = add_measured_run("vgg38", outputs=75, layers=39)
    older = add_run("vgg08")  # recorded before the forward signal and weight updates
    at = open_page("views/compare.py")
    at.multiselect(key="compare_runs").set_value([measured, older]).run()
    assert not at.exception
    titles = chart_titles(at)
    assert sum("latest epoch of each run" in t for t in titles) == 4  # flow, signal, update, gain
    (table,) = at.table
    assert table.value["run"].tolist()[0].startswith(f"\\#{measured} \\*measured\\*")  # plain text: no Markdown
    assert table.value["median gain per layer"].tolist()[0] == "0.700"
    assert table.value["geometric mean gain"].tolist()[0] == "0.700"
    at.multiselect(key="compare_runs").set_value([older]).run()
    assert not at.exception
    assert sum("recorded before VGP Lab measured" in c.value for c in at.caption) == 2  # signal and updates
    at.switch_page("views/run.py").run()
    at.query_params["run"] = str(older)
    at.run()
    assert not at.exception
    assert sum("recorded before VGP Lab measured" in c.value for c in at.caption) == 2
