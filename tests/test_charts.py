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


def test_gradient_flow_legend_lists_every_drawn_epoch():
    enc = charts.gradient_flow_chart(grads_frame(epochs=8)).to_dict()["encoding"]
    assert enc["color"]["type"] == "ordinal" and enc["color"]["scale"]["domain"] == list(range(1, 9))  # 3, 6 too
    thinned = charts.gradient_flow_chart(grads_frame(epochs=30)).to_dict()["encoding"]
    assert thinned["color"]["scale"]["domain"] == charts.pick_epochs(list(range(1, 31)))  # the drawn ones, all


def test_gradient_flow_filters_conv_and_linear_or_bn_weights():
    grads = pd.DataFrame(dict(run_id=1, epoch=1, layer_index=range(4), abs_mean_last=1e-3,
                              layer=["input_conv_conv_0", "input_conv_bn_0", "block_0_0_conv_0",
                                     "logit_linear_layer"]))  # fmt: skip
    assert charts.layers_of_kind(grads, "all")["layer_index"].tolist() == [0, 1, 2, 3]
    assert charts.layers_of_kind(grads, "weights")["layer_index"].tolist() == [0, 2, 3]
    assert charts.layers_of_kind(grads, "bn")["layer"].tolist() == ["input_conv_bn_0"]


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
    """A run with no epoch yet: each chart is still drawable (its line and both axes), with no point on it."""
    empty_e = epochs_frame().iloc[:0]
    empty_g = grads_frame().iloc[:0]
    for chart in (charts.loss_chart(empty_e), charts.accuracy_chart(empty_e), charts.gradient_flow_chart(empty_g)):
        spec = chart.to_dict()
        assert spec["mark"]["type"] == "line" and {"x", "y"} <= set(spec["encoding"])
        assert plotted(chart).empty


def test_metric_charts_zoom_and_pan():
    params = charts.loss_chart(epochs_frame()).to_dict()["params"]
    assert any(p.get("bind") == "scales" for p in params)  # interactive(): wheel zoom, drag pan


def test_compare_metric_charts_colour_by_run_dash_by_split_with_tooltips():
    df = epochs_frame(run_ids=(1, 2))
    for builder in (charts.loss_chart, charts.accuracy_chart):
        enc = builder(df).to_dict()["encoding"]
        assert enc["color"]["field"] == "run" and enc["color"]["scale"]["scheme"] == "tableau10"
        assert enc["strokeDash"]["field"] == "split"
        assert [t["field"] for t in enc["tooltip"]] == ["run", "epoch", "split", "value"]


def test_layer_order_merges_nets_of_different_depth():
    shallow = ["input_conv_conv_0", "reduction_block_0_conv_0", "logit_linear_layer"]
    deep = ["input_conv_conv_0", "block_0_0_conv_0", "block_0_0_conv_1", "reduction_block_0_conv_0",
            "logit_linear_layer"]  # fmt: skip
    rows = [dict(run_id=1, epoch=1, layer_index=i, layer=n, abs_mean_last=1.0) for i, n in enumerate(shallow)]
    rows += [dict(run_id=2, epoch=1, layer_index=i, layer=n, abs_mean_last=1.0) for i, n in enumerate(deep)]
    assert charts.layer_order(pd.DataFrame(rows)) == deep
    assert charts.layer_order(grads_frame()) == LAYERS


def test_heatmap_layer_by_epoch_on_a_log_colour_scale():
    chart = charts.gradient_heatmap(grads_frame(epochs=4, zero_at=(3, 2)), title="#1 VGG08")
    spec = chart.to_dict()
    assert spec["mark"]["type"] == "rect"
    enc = spec["encoding"]
    assert enc["x"]["field"] == "epoch" and enc["x"]["type"] == "ordinal"
    assert enc["y"]["field"] == "layer" and enc["y"]["sort"] == LAYERS  # input at the top, forward order
    assert enc["color"]["field"] == "abs_mean_last" and enc["color"]["scale"]["type"] == "log"
    data = plotted(chart)
    assert len(data) == 4 * len(LAYERS) - 1 and (data["abs_mean_last"] > 0).all()  # the zero is left blank


def test_heatmap_thins_epochs_for_drawing():
    df = grads_frame(epochs=120)
    data = plotted(charts.gradient_heatmap(df, max_epochs=50))
    kept = sorted(data["epoch"].unique())
    assert len(kept) == 50 and kept[0] == 1 and kept[-1] == 120
    assert "50 epochs shown" in charts.gradient_heatmap(df, "t", max_epochs=50).to_dict()["title"]


def test_ratio_chart_first_over_last_with_the_flag_rule():
    ends = pd.DataFrame(dict(run_id=[1, 1, 2, 2], epoch=[1, 2, 1, 2], first=[1e-2, 2e-2, 1e-18, 0.0],
                             last=[1e-1, 1e-1, 1e-4, 1e-4]))  # fmt: skip
    ends["run"] = ends["run_id"].map({1: "#1 VGG08", 2: "#2 VGG38"})
    spec = charts.gradient_ratio_chart(ends).to_dict()
    line, rule, label = spec["layer"]
    assert line["encoding"]["y"]["field"] == "ratio" and line["encoding"]["y"]["scale"]["type"] == "log"
    assert line["encoding"]["color"]["field"] == "run" and line["encoding"]["x"]["field"] == "epoch"
    assert rule["mark"]["type"] == "rule" and rule["encoding"]["y"]["datum"] == 1e-3
    # the rule and its label each have one datum of their own: drawn once, not once per row, and say 1e-3
    assert len(spec["datasets"][rule["data"]["name"]]) == 1 == len(spec["datasets"][label["data"]["name"]])
    assert label["encoding"]["text"]["value"] == "vanishing below 0.001"
    values = spec["datasets"][spec["data"]["name"]]
    data = pd.DataFrame(values).sort_values(["run", "epoch"])
    assert data["ratio"].tolist() == pytest.approx([0.1, 0.2, 1e-14])  # the zero cannot sit on a log axis


def test_compare_charts_build_every_chart_of_the_page():
    e, g = epochs_frame(run_ids=(1, 2)), grads_frame(run_ids=(1, 2))
    ends = pd.DataFrame(dict(run_id=[1, 2], epoch=[3, 3], first=[1e-2, 1e-9], last=[1.0, 1.0]))  # gradient_ends_frame
    built = charts.compare_charts(e, g, ends, {1: "#1 VGG08", 2: "#2 VGG38"})
    assert set(built) == {"loss", "accuracy", "flow", "ratio", "heatmap-1", "heatmap-2"}
    per_run = charts.compare_charts(e, g, ends, {1: "a", 2: "b"}, per_run_flow=True)
    assert set(per_run) == {"loss", "accuracy", "flow-1", "flow-2", "ratio", "heatmap-1", "heatmap-2"}
    assert plotted(per_run["flow-1"])["epoch"].nunique() == 3
    flow = built["flow"].to_dict()
    assert flow["encoding"]["color"]["field"] == "run"
    assert set(plotted(built["flow"])["epoch"]) == {3}  # each run's latest
    assert set(plotted(charts.compare_charts(e, g, ends, {}, epoch=2)["flow"])["epoch"]) == {2}
    assert set(plotted(built["loss"])["run"]) == {"#1 VGG08", "#2 VGG38"}


@pytest.mark.parametrize("fmt,magic", [("png", b"\x89PNG"), ("svg", b"<svg")])
def test_chart_image_png_and_svg(fmt, magic):
    image = charts.chart_image(charts.gradient_ratio_chart(pd.DataFrame(
        dict(run_id=[1, 1], epoch=[1, 2], first=[1e-3, 2e-3], last=[1e-1, 1e-1])
    )), fmt)  # fmt: skip
    assert image.startswith(magic) and len(image) > 1000


def test_chart_image_does_not_depend_on_the_global_data_transformer():
    import altair as alt

    with alt.data_transformers.enable("default", max_rows=1):  # what a concurrent Streamlit draw may leave set
        spec = charts.chart_spec(charts.loss_chart(epochs_frame()))
    assert len(spec["data"]["values"]) == 6  # inline, past the limit the global transformer would enforce
    assert spec["width"] == charts.EXPORT_WIDTH


def test_a_file_keeps_the_tiny_values_a_log_axis_draws():
    ratios = [2.2e-12, 1e-13, 4e-15, 0.04]  # weights that barely moved: pandas' default JSON wrote these as 0.0
    frame = pd.DataFrame(dict(run_id=1, epoch=1, first=ratios, last=1.0))
    values = [row["first"] for row in charts.chart_spec(charts.gradient_ratio_chart(frame))["data"]["values"]]
    assert values == pytest.approx(ratios, rel=0.05) and all(v > 0 for v in values)


def test_results_chart_ours_beside_the_report():
    table = pd.DataFrame(dict(model=["VGG08", "VGG38"], lr=[1e-3, 1e-3], run_id=pd.array([3, None], dtype="Int64"),
                              val_acc_pct=[45.0, None], report_val_acc_pct=[46.84, 0.01]))  # fmt: skip
    chart = charts.results_chart(table)
    enc = chart.to_dict()["encoding"]
    assert enc["xOffset"]["field"] == "source" and enc["color"]["field"] == "source" and enc["y"]["field"] == "val_acc"
    data = plotted(chart)
    assert sorted(zip(data["row"], data["source"], data["val_acc"])) == [
        ("VGG08 · 1e-3", "Report", 46.84), ("VGG08 · 1e-3", "This lab", 45.0), ("VGG38 · 1e-3", "Report", 0.01),
    ]  # fmt: skip


def test_compare_heatmaps_share_one_log_colour_scale_unless_asked_not_to():
    e, g = epochs_frame(run_ids=(1, 2)), grads_frame(run_ids=(1, 2))
    g.loc[g["run_id"] == 2, "abs_mean_last"] *= 1e-9  # a run whose gradients vanish
    ends = pd.DataFrame(dict(run_id=[1, 2], epoch=[3, 3], first=[1e-2, 1e-9], last=[1.0, 1.0]))
    shared = charts.compare_charts(e, g, ends, {1: "a", 2: "b"})
    domains = [shared[f"heatmap-{i}"].to_dict()["encoding"]["color"]["scale"]["domain"] for i in (1, 2)]
    assert domains[0] == domains[1] == pytest.approx([1e-13, 3e-1])
    assert shared["heatmap-1"].to_dict()["encoding"]["color"]["scale"]["type"] == "log"
    own = charts.compare_charts(e, g, ends, {1: "a", 2: "b"}, shared_scale=False)
    assert "domain" not in own["heatmap-1"].to_dict()["encoding"]["color"]["scale"]


def test_sweep_chart_tells_nine_cures_apart_and_draws_the_threshold():
    cures = ["none", "BN", "RC", "BN+RC", "Kaiming init", "ReLU", "SGD", "Gradient amplification", "DenseNet"]
    points = pd.DataFrame([dict(cure=c, depth=d, seed=s, ratio=10.0 ** -(d / (i + 3)), note="")
                           for i, c in enumerate(cures) for d in (8, 14) for s in (0, 1)])  # fmt: skip
    spec = charts.sweep_chart(points).to_dict()
    area, line, rule, label = spec["layer"]
    assert area["encoding"]["color"]["legend"] is None  # no pale swatches: the legend is the lines'
    assert line["encoding"]["color"]["field"] == line["encoding"]["strokeDash"]["field"]  # colour and dash per cure
    assert len({tuple(d) for d in line["encoding"]["strokeDash"]["scale"]["range"]}) == len(cures)
    assert rule["encoding"]["y"]["datum"] == 1e-3 and label["encoding"]["text"]["value"] == "vanishing below 0.001"
