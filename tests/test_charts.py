"""Chart builders: the data they plot and their encodings, read back through `chart.to_dict()`."""

from __future__ import annotations

import pandas as pd
import pytest

from dashboard import charts


def epochs_frame(run_ids=(1,), epochs=3) -> pd.DataFrame:
    rows = []
    for run_id in run_ids:
        for e in range(1, epochs + 1):
            rows.append(
                dict(
                    run_id=run_id,
                    epoch=e,
                    train_loss=4.6 - e * 0.1 * run_id,
                    train_acc=0.01 * e,
                    val_loss=4.7 - e * 0.1,
                    val_acc=0.012 * e,
                    lr=1e-3,
                    seconds=2.0,
                )
            )
    return pd.DataFrame(rows)


LAYERS = ["input_conv", "block_0_0_conv_0", "reduction_block_0_conv_0", "logit_linear_layer"]


def grads_frame(run_ids=(1,), epochs=3, zero_at=None) -> pd.DataFrame:
    rows = []
    for run_id in run_ids:
        for e in range(1, epochs + 1):
            # Rows deliberately out of forward order, so that the chart's own sort is what is tested.
            for index in (3, 1, 0, 2):
                value = 0.0 if (e, index) == zero_at else 10.0 ** -(index + 1) * e
                rows.append(
                    dict(
                        run_id=run_id,
                        epoch=e,
                        layer_index=index,
                        layer=LAYERS[index],
                        abs_mean_last=value,
                        abs_mean_epoch=value,
                        l2=value * 10,
                    )
                )
    return pd.DataFrame(rows)


def plotted(chart) -> pd.DataFrame:
    spec = chart.to_dict()
    (values,) = spec["datasets"].values()
    return pd.DataFrame(values)


@pytest.mark.parametrize("builder,metric", [(charts.loss_chart, "loss"), (charts.accuracy_chart, "acc")])
def test_metric_chart_one_run_colours_by_split(builder, metric):
    df = epochs_frame()
    spec = builder(df).to_dict()
    enc = spec["encoding"]
    assert enc["x"]["field"] == "epoch"
    assert enc["strokeDash"]["field"] == "split"
    assert enc["color"]["field"] == "split"
    assert {t["field"] for t in enc["tooltip"]} == {"run", "epoch", "split", "value"}
    data = plotted(builder(df))
    assert sorted(data["split"].unique()) == ["Train", "Validation"]
    assert len(data) == 2 * len(df)
    train = data[data["split"] == "Train"].sort_values("epoch")["value"].tolist()
    assert train == pytest.approx(df[f"train_{metric}"].tolist())


def test_loss_axis_does_not_start_at_zero():
    assert charts.loss_chart(epochs_frame()).to_dict()["encoding"]["y"]["scale"]["zero"] is False


def test_accuracy_axis_is_percent_of_fractions():
    spec = charts.accuracy_chart(epochs_frame()).to_dict()
    assert spec["encoding"]["y"]["axis"]["format"] == ".1%"
    assert plotted(charts.accuracy_chart(epochs_frame()))["value"].max() <= 1.0


def test_metric_chart_several_runs_colours_by_run():
    df = epochs_frame(run_ids=(1, 2))
    spec = charts.loss_chart(df).to_dict()
    assert spec["encoding"]["color"]["field"] == "run"
    assert spec["encoding"]["strokeDash"]["field"] == "split"
    assert set(plotted(charts.loss_chart(df))["run"]) == {"#1", "#2"}


def test_run_column_names_legend():
    df = epochs_frame(run_ids=(1, 2))
    df["run"] = df["run_id"].map({1: "#1 VGG08", 2: "#2 VGG38"})
    assert set(plotted(charts.loss_chart(df))["run"]) == {"#1 VGG08", "#2 VGG38"}


def test_gradient_flow_log_y_forward_order_x():
    spec = charts.gradient_flow_chart(grads_frame()).to_dict()
    enc = spec["encoding"]
    assert enc["y"]["field"] == "abs_mean_last"
    assert enc["y"]["scale"]["type"] == "log"
    assert enc["x"]["field"] == "layer"
    assert enc["x"]["sort"] == LAYERS  # by layer_index, not alphabetical nor row order
    assert enc["x"]["scale"]["domain"] == LAYERS
    assert enc["color"]["field"] == "epoch"
    assert enc["detail"]["field"] == "epoch"  # one line per epoch
    assert enc["color"]["legend"]["values"] == [1, 2, 3]  # whole epochs only


def test_gradient_flow_all_epochs_or_one():
    df = grads_frame(epochs=3)
    assert sorted(plotted(charts.gradient_flow_chart(df))["epoch"].unique()) == [1, 2, 3]
    one = plotted(charts.gradient_flow_chart(df, epoch=2))
    assert one["epoch"].unique().tolist() == [2]
    assert len(one) == len(LAYERS)
    assert "epoch 2" in charts.gradient_flow_chart(df, epoch=2).to_dict()["title"]


def test_gradient_flow_uses_last_batch_value():
    df = grads_frame()
    df["abs_mean_epoch"] = 123.0
    assert plotted(charts.gradient_flow_chart(df))["abs_mean_last"].max() < 1.0


def test_gradient_flow_drops_zeros_and_counts_them():
    df = grads_frame(zero_at=(2, 1))
    chart = charts.gradient_flow_chart(df)
    data = plotted(chart)
    assert (data["abs_mean_last"] > 0).all()
    assert len(data) == len(df) - 1
    assert chart.to_dict()["encoding"]["x"]["scale"]["domain"] == LAYERS  # the zero's layer keeps its place
    assert charts.zero_gradients(df) == 1
    assert charts.zero_gradients(df, epoch=1) == 0


def test_gradient_flow_many_epochs_thinned_and_under_altair_row_limit():
    df = grads_frame(epochs=100)
    df = pd.concat([df.assign(layer_index=df["layer_index"] + 4 * k, layer=df["layer"] + f"_{k}") for k in range(19)])
    assert len(df) > 5000
    data = plotted(charts.gradient_flow_chart(df))  # would raise MaxRowsError unthinned
    kept = sorted(data["epoch"].unique())
    assert len(kept) == charts.MAX_GRAD_LINES
    assert kept[0] == 1 and kept[-1] == 100


def test_gradient_flow_several_runs():
    spec = charts.gradient_flow_chart(grads_frame(run_ids=(1, 2))).to_dict()
    assert spec["encoding"]["color"]["field"] == "run"
    assert spec["encoding"]["detail"]["field"] == "epoch"


@pytest.mark.parametrize(
    "epochs,limit,expected",
    [([3, 1, 2], 5, [1, 2, 3]), (list(range(1, 11)), 4, [1, 4, 7, 10]), (list(range(1, 101)), 2, [1, 100])],
)
def test_pick_epochs(epochs, limit, expected):
    assert charts.pick_epochs(epochs, limit) == expected


def test_charts_of_empty_frames_do_not_fail():
    empty_e = epochs_frame().iloc[:0]
    empty_g = grads_frame().iloc[:0]
    for chart in (charts.loss_chart(empty_e), charts.accuracy_chart(empty_e), charts.gradient_flow_chart(empty_g)):
        chart.to_dict()
