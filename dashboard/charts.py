"""Altair chart builders: plain functions of the store's frames, testable without Streamlit.

Inputs are `worker.frames.epochs_frame` / `gradients_frame` output. An optional `run` column (a
display label) names each run in legends; without it the run id is used.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

import altair as alt
import pandas as pd

from dashboard.analysis import BAND_LABELS, VANISHING_RATIO, gradient_ratio, seed_band

# Overlaying more epochs than this makes the gradient-flow legend unreadable (and 100 epochs of a
# 75-layer net would pass Altair's 5,000-row inline limit): keep this many, evenly spaced, first and last included.
MAX_GRAD_LINES = 21

# A heatmap shows at most this many epochs (evenly spaced, first and last kept): 75 layers x 50 epochs = 3,750
# cells, under Altair's 5,000-row inline limit. Exports (CSV) are never thinned.
HEATMAP_EPOCHS = 50

EXPORT_WIDTH = 760  # px: a chart drawn to a file has no Streamlit container to stretch to

_SPLITS = {"train": "Train", "val": "Validation"}
REPORT_LABELS = {"logit_linear_layer": "weight_logit_linear_layer"}  # how the report's figures write it
_RUNS = alt.Scale(scheme="tableau10")  # distinct hues per run (Streamlit's theme would give shades of blue)
_EPOCH_AXIS = alt.Axis(tickMinStep=1, format="d")  # whole epochs, also when there is only one
_POINTS = alt.OverlayMarkDef(size=16)  # small: 100 epochs of points should not hide the line
_LINE_LEGEND = alt.Legend(symbolType="stroke", symbolStrokeWidth=2)  # legend entries drawn as (dashed) lines


def run_labels(df: pd.DataFrame) -> pd.Series:
    """The legend label of each row: the `run` column when present, else '#<run_id>'."""
    if "run" in df.columns:
        return df["run"].astype(str)
    return "#" + df["run_id"].astype(str)


def _long_metric(epochs_df: pd.DataFrame, metric: str) -> pd.DataFrame:
    """Train and val columns of one metric ('loss' or 'acc') stacked: run, epoch, split, value."""
    parts = []
    for split, name in _SPLITS.items():
        part = pd.DataFrame(
            {
                "run": run_labels(epochs_df),
                "epoch": epochs_df["epoch"].astype(int),
                "split": name,
                "value": epochs_df[f"{split}_{metric}"].astype(float),
            }
        )
        parts.append(part)
    return pd.concat(parts, ignore_index=True)


def _metric_chart(epochs_df: pd.DataFrame, metric: str, title: str, y_format: str | None, zero: bool) -> alt.Chart:
    data = _long_metric(epochs_df, metric)
    several = data["run"].nunique() > 1
    axis = alt.Axis(format=y_format) if y_format else alt.Axis()
    encodings = dict(
        x=alt.X("epoch:Q", title="Epoch", axis=_EPOCH_AXIS),
        y=alt.Y("value:Q", title=title, axis=axis, scale=alt.Scale(zero=zero)),
        strokeDash=alt.StrokeDash("split:N", title="Split", sort=list(_SPLITS.values()), legend=_LINE_LEGEND),
        tooltip=[
            alt.Tooltip("run:N", title="Run"),
            alt.Tooltip("epoch:Q", title="Epoch"),
            alt.Tooltip("split:N", title="Split"),
            alt.Tooltip("value:Q", title=title, format=y_format or ".4f"),
        ],
    )
    if several:
        encodings["color"] = alt.Color("run:N", title="Run", scale=_RUNS, legend=_LINE_LEGEND)
    else:
        encodings["color"] = alt.Color("split:N", title="Split", sort=list(_SPLITS.values()), legend=_LINE_LEGEND)
    # interactive(): zoom with the wheel, pan by dragging, double-click to reset.
    return alt.Chart(data, title=title).mark_line(point=_POINTS).encode(**encodings).interactive()


def loss_chart(epochs_df: pd.DataFrame) -> alt.Chart:
    """Train and validation loss per epoch: dash = split, colour = run when several runs."""
    return _metric_chart(epochs_df, "loss", "Loss", None, zero=False)


def accuracy_chart(epochs_df: pd.DataFrame) -> alt.Chart:
    """Train and validation accuracy (fractions, shown as %) per epoch: dash = split, colour = run when several."""
    return _metric_chart(epochs_df, "acc", "Accuracy", ".1%", zero=True)


def pick_epochs(epochs: list[int], limit: int = MAX_GRAD_LINES) -> list[int]:
    """At most `limit` of the sorted distinct epochs, evenly spaced, always keeping the first and the last."""
    epochs = sorted(set(int(e) for e in epochs))
    if len(epochs) <= limit:
        return epochs
    if limit < 2:
        return epochs[-1:]
    step = (len(epochs) - 1) / (limit - 1)
    return sorted({epochs[round(i * step)] for i in range(limit)})


def layer_order(grads_df: pd.DataFrame) -> list[str]:
    """Every layer label in forward order; several runs' orders merged (VGG08's layers sit among VGG38's).

    A topological merge of each run's sequence (sorted by layer_index); ties go to the layer seen earliest.
    """
    if "run_id" not in grads_df or grads_df["run_id"].nunique() <= 1:
        return grads_df.drop_duplicates("layer").sort_values("layer_index", kind="stable")["layer"].tolist()
    first_seen: dict[str, float] = {}
    after: dict[str, set[str]] = {}
    for _, run in grads_df.drop_duplicates(["run_id", "layer"]).groupby("run_id", sort=True):
        seq = run.sort_values("layer_index", kind="stable")["layer"].tolist()
        for i, layer in enumerate(seq):
            first_seen[layer] = min(first_seen.get(layer, 1.0), i / max(len(seq) - 1, 1))
            after.setdefault(layer, set())
            if i:
                after[layer].add(seq[i - 1])
    order: list[str] = []
    placed: set[str] = set()
    while len(order) < len(first_seen):
        ready = [layer for layer in first_seen if layer not in placed and after[layer] <= placed]
        if not ready:  # inconsistent orders (a cycle): place the rest by relative position
            ready = [layer for layer in first_seen if layer not in placed]
        layer = min(ready, key=lambda name: (first_seen[name], name))
        order.append(layer)
        placed.add(layer)
    return order


def gradient_flow_chart(
    grads_df: pd.DataFrame,
    epoch: int | None = None,
    max_lines: int = MAX_GRAD_LINES,
    title: str | None = None,
    report_style: bool = False,
) -> alt.Chart:
    """Mean |grad| of each weight tensor (last batch of the epoch) along the network, log y axis.

    x is the layer label in forward order (`layer_order`); one line per epoch (at most `max_lines`,
    evenly spaced) or only `epoch`. With several runs, colour = run and each (run, epoch) is its own
    line. Zeros cannot sit on a log axis; they are left out (see `zero_gradients`).
    `report_style` draws it as the report's Figures 2, 3 and 5: a linear axis, every epoch, zeros at 0,
    and the last layer labelled as there (`REPORT_LABELS`).
    """
    if report_style:
        max_lines = max(grads_df["epoch"].nunique(), 1)
        grads_df = grads_df.assign(layer=grads_df["layer"].replace(REPORT_LABELS))
    data = _shown(grads_df, epoch, max_lines)
    if not report_style:
        data = data[data["abs_mean_last"] > 0]
    order = layer_order(grads_df)
    several = data["run"].nunique() > 1
    encodings = dict(
        # The domain names every layer, so one whose gradient is exactly zero leaves a visible gap.
        x=alt.X(
            "layer:N",
            title="Layer (forward order)",
            sort=order,
            scale=alt.Scale(domain=order),
            axis=alt.Axis(labelAngle=-90, labelLimit=260, labelFontSize=9, labelOverlap=False),
        ),
        y=alt.Y("abs_mean_last:Q", title="Mean |gradient|", scale=alt.Scale(type="linear" if report_style else "log"),
                axis=alt.Axis(format=".1e" if report_style else ".0e")),
        tooltip=[
            alt.Tooltip("run:N", title="Run"),
            alt.Tooltip("epoch:O", title="Epoch"),
            alt.Tooltip("layer_index:Q", title="Index"),
            alt.Tooltip("layer:N", title="Layer"),
            alt.Tooltip("abs_mean_last:Q", title="Mean |grad|", format=".3e"),
        ],
    )
    if several:
        encodings["color"] = alt.Color("run:N", title="Run", scale=_RUNS)
    else:
        # A continuous legend stays one gradient bar however many epochs are drawn.
        # Legend entries at drawn epochs only (a quantitative legend would offer epoch 1.2).
        legend = alt.Legend(values=pick_epochs(data["epoch"].tolist(), 6), format="d")
        encodings["color"] = alt.Color("epoch:Q", title="Epoch", scale=alt.Scale(scheme="viridis"), legend=legend)
    encodings["detail"] = alt.Detail("epoch:O")  # one line per (run, epoch)
    title = title or "Mean |gradient| per layer" + (f", epoch {epoch}" if epoch is not None else "")
    chart = alt.Chart(data.drop(columns=["run_id"]), title=title).mark_line(point=_POINTS).encode(**encodings)
    return chart.properties(height=460)  # Streamlit fits all of the chart, vertical labels included, in this


def zero_gradients(grads_df: pd.DataFrame, epoch: int | None = None, max_lines: int = MAX_GRAD_LINES) -> int:
    """How many of the plotted values are exactly zero (and so hidden on the log axis)."""
    return int((_shown(grads_df, epoch, max_lines)["abs_mean_last"] <= 0).sum())


def _shown(grads_df: pd.DataFrame, epoch: int | None, max_lines: int = MAX_GRAD_LINES) -> pd.DataFrame:
    """The rows gradient_flow_chart plots: `epoch` only, or the epochs pick_epochs keeps; with a run label."""
    data = grads_df[["run_id", "epoch", "layer_index", "layer", "abs_mean_last"]].copy()
    data["run"] = run_labels(grads_df)
    if epoch is not None:
        return data[data["epoch"] == epoch]
    return data[data["epoch"].isin(pick_epochs(data["epoch"].tolist(), max_lines))]


def gradient_heatmap(grads_df: pd.DataFrame, title: str = "", max_epochs: int = HEATMAP_EPOCHS) -> alt.Chart:
    """One run's mean |grad| (last batch) as a layer x epoch heatmap on a log colour scale.

    y = layer in forward order (input at the top), x = epoch (at most `max_epochs`, evenly spaced).
    Exact zeros have no place on a log scale and are left blank.
    """
    order = layer_order(grads_df)
    kept = pick_epochs(grads_df["epoch"].tolist(), max_epochs)
    data = grads_df.loc[grads_df["epoch"].isin(kept), ["epoch", "layer_index", "layer", "abs_mean_last"]]
    data = data[data["abs_mean_last"] > 0]
    thinned = f" ({len(kept)} epochs shown)" if kept and len(kept) < grads_df["epoch"].nunique() else ""
    chart = alt.Chart(data, title=f"{title}{thinned}" if title else alt.Undefined).mark_rect().encode(
        x=alt.X("epoch:O", title="Epoch", axis=alt.Axis(labelOverlap=True, labelAngle=0)),
        y=alt.Y(
            "layer:N", title=None, sort=order, scale=alt.Scale(domain=order),
            axis=alt.Axis(labelLimit=220, labelFontSize=10, labelOverlap=False),
        ),
        color=alt.Color(
            "abs_mean_last:Q", title="Mean |grad|", scale=alt.Scale(type="log", scheme="viridis"),
            legend=alt.Legend(format=".0e"),
        ),
        tooltip=[
            alt.Tooltip("epoch:O", title="Epoch"),
            alt.Tooltip("layer:N", title="Layer"),
            alt.Tooltip("abs_mean_last:Q", title="Mean |grad|", format=".3e"),
        ],
    )  # fmt: skip
    # 13 px a layer, every label readable; Streamlit fits title, axes and legend inside this height too.
    return chart.properties(height=13 * len(order) + 130)


def gradient_ratio_chart(ends_df: pd.DataFrame) -> alt.LayerChart:
    """First layer's over last layer's mean |grad| (last batch) per epoch, log y, colour = run; a rule at
    VANISHING_RATIO, below which a run is flagged 'vanishing gradients'. Input: `gradient_ends` frames."""
    data = gradient_ratio(ends_df)
    data = data[data["ratio"] > 0].assign(run=run_labels(data[data["ratio"] > 0]))
    line = (
        alt.Chart()
        .mark_line(point=_POINTS)
        .encode(
            x=alt.X("epoch:Q", title="Epoch", axis=_EPOCH_AXIS),
            y=alt.Y(
                "ratio:Q",
                title="Input / last layer mean |grad|",
                scale=alt.Scale(type="log"),
                axis=alt.Axis(format=".0e"),
            ),  # fmt: skip
            color=alt.Color("run:N", title="Run", scale=_RUNS),
            tooltip=[
                alt.Tooltip("run:N", title="Run"),
                alt.Tooltip("epoch:Q", title="Epoch"),
                alt.Tooltip("first:Q", title="Input layer", format=".3e"),
                alt.Tooltip("last:Q", title="Last layer", format=".3e"),
                alt.Tooltip("ratio:Q", title="Ratio", format=".3e"),
            ],
        )
    )
    rule = alt.Chart().mark_rule(strokeDash=[4, 4], color="firebrick").encode(y=alt.datum(VANISHING_RATIO))
    label = (
        alt.Chart()
        .mark_text(align="left", dx=4, dy=-6, color="firebrick", fontSize=11)
        .encode(x=alt.value(0), y=alt.datum(VANISHING_RATIO), text=alt.datum("vanishing below"))
    )
    chart = alt.layer(line, rule, label, data=data.drop(columns=["run_id"]), title="Gradient ratio, input / last layer")
    return chart.interactive(bind_y=False)


def results_chart(table: pd.DataFrame) -> alt.Chart:
    """Table 1's validation accuracy, ours beside the report's, per row (`analysis.table1_frame` output)."""
    rows = table.assign(row=table["model"] + " · " + table["lr"].map(lambda lr: f"{lr:.0e}".replace("e-0", "e-")))
    data = pd.concat(
        [
            rows[["row", "run_id"]].assign(source="This lab", val_acc=rows["val_acc_pct"]),
            rows[["row", "run_id"]].assign(source="Report", val_acc=rows["report_val_acc_pct"]),
        ],
        ignore_index=True,
    ).dropna(subset=["val_acc"])
    data["run_id"] = data["run_id"].astype("float64")  # nullable ints do not serialise to JSON
    return (
        alt.Chart(data, title="Validation accuracy at the best-val epoch, %")
        .mark_bar()
        .encode(
            x=alt.X("row:N", title=None, sort=rows["row"].tolist(), axis=alt.Axis(labelAngle=-30, labelLimit=200)),
            xOffset=alt.XOffset("source:N", sort=["This lab", "Report"]),
            y=alt.Y("val_acc:Q", title="Val acc (%)"),
            color=alt.Color("source:N", title=None, sort=["This lab", "Report"], scale=_RUNS),
            tooltip=[
                alt.Tooltip("row:N", title="Row"),
                alt.Tooltip("source:N", title="Source"),
                alt.Tooltip("val_acc:Q", title="Val acc (%)", format=".2f"),
            ],
        )
    )


# ---- over seeds ----------------------------------------------------------------------------------


def band_chart(
    data: pd.DataFrame, x: alt.X, y_title: str, title: str, kind: str, log: bool = False, dash: str | None = None,
) -> alt.LayerChart:
    """Mean lines with a shaded band per series: `data` has series, the x field, mean, lo, hi, n (`seed_band`
    output plus a `series` column) and optionally a `dash` column. The title says what the band is. On a log
    axis a band whose low end is not above zero is left out (the mean line stays)."""
    if log:
        data = data.assign(lo=data["lo"].where(data["lo"] > 0), hi=data["hi"].where(data["lo"] > 0))
    y_scale = alt.Scale(type="log") if log else alt.Scale(zero=False)
    y_axis = alt.Axis(format=".0e") if log else alt.Axis()
    colour = alt.Color("series:N", title=None, scale=_RUNS, legend=_LINE_LEGEND)
    tooltip = [alt.Tooltip("series:N", title="Config"), alt.Tooltip(x.shorthand, title=x.to_dict().get("title")),
               alt.Tooltip("mean:Q", title="Mean", format=".4g"), alt.Tooltip("lo:Q", title="Band low", format=".4g"),
               alt.Tooltip("hi:Q", title="Band high", format=".4g"), alt.Tooltip("n:Q", title="Seeds")]  # fmt: skip
    detail = [alt.Detail(f"{dash}:N")] if dash else []
    area = alt.Chart().mark_area(opacity=0.2).encode(x=x, y=alt.Y("lo:Q"), y2="hi:Q", color=colour, detail=detail)
    line = alt.Chart().mark_line(point=_POINTS).encode(
        x=x, y=alt.Y("mean:Q", title=y_title, scale=y_scale, axis=y_axis), color=colour, tooltip=tooltip,
        **({"strokeDash": alt.StrokeDash(f"{dash}:N", title=None, legend=_LINE_LEGEND)} if dash else {}),
    )  # fmt: skip
    return alt.layer(area, line, data=data, title=f"{title} ({BAND_LABELS[kind]})")


def seed_curve_chart(epochs_df: pd.DataFrame, metric: str, kind: str = "minmax") -> alt.LayerChart:
    """Train and validation `metric` ('loss' or 'acc') per epoch, the mean over each config's seeds with a band.
    `epochs_df`: epochs_frame rows plus a `config` column naming each run's seed group."""
    parts = [
        seed_band(epochs_df, ["config", "epoch"], f"{split}_{metric}", kind).assign(split=name)
        for split, name in _SPLITS.items()
    ]
    data = pd.concat(parts, ignore_index=True).rename(columns={"config": "series"})
    title, y_title = ("Loss", "Loss") if metric == "loss" else ("Accuracy", "Accuracy (fraction)")
    return band_chart(data, alt.X("epoch:Q", title="Epoch", axis=_EPOCH_AXIS), y_title, title, kind, dash="split")


def seed_flow_chart(grads_df: pd.DataFrame, kind: str = "minmax") -> alt.LayerChart:
    """Mean |gradient| per layer (last batch), the mean over each config's seeds with a band, on a log axis.
    `grads_df`: one epoch per run (the caller picks it) plus a `config` column."""
    order = layer_order(grads_df)
    data = seed_band(grads_df[grads_df["abs_mean_last"] > 0], ["config", "layer"], "abs_mean_last", kind)
    x = alt.X("layer:N", title="Layer (forward order)", sort=order, scale=alt.Scale(domain=order),
              axis=alt.Axis(labelAngle=-90, labelLimit=260, labelFontSize=9, labelOverlap=False))  # fmt: skip
    chart = band_chart(data.rename(columns={"config": "series"}), x, "Mean |gradient|", "Mean |gradient| per layer",
                       kind, log=True)  # fmt: skip
    return chart.properties(height=460)


def sweep_chart(points: pd.DataFrame, kind: str = "minmax") -> alt.LayerChart:
    """A depth sweep: input / last layer mean |gradient| at initialisation against depth, log y, one line per cure
    (the mean over seeds) with its band. `points`: worker.sweeps.points_frame; skipped points have no ratio."""
    data = seed_band(points[points["ratio"] > 0], ["cure", "depth"], "ratio", kind).rename(columns={"cure": "series"})
    x = alt.X("depth:Q", title="Depth (weight layers)", scale=alt.Scale(zero=False), axis=alt.Axis(format="d"))
    return band_chart(data, x, "Input / last layer mean |grad|", "Gradient ratio at initialisation", kind, log=True)


# ---- export --------------------------------------------------------------------------------------


def _inline(chart: alt.TopLevelMixin) -> alt.TopLevelMixin:
    """A copy whose DataFrames are inline JSON values: independent of Altair's global data transformer,
    which Streamlit swaps while it draws."""
    chart = chart.copy(deep=True)
    stack = [chart]
    while stack:
        node = stack.pop()
        data = getattr(node, "data", alt.Undefined)
        if isinstance(data, pd.DataFrame):
            node.data = alt.Data(values=json.loads(data.to_json(orient="records", date_format="iso")))
        for part in ("layer", "hconcat", "vconcat", "concat"):
            stack.extend(getattr(node, part, None) or [])
    return chart


def chart_spec(chart: alt.TopLevelMixin, width: int = EXPORT_WIDTH) -> dict:
    """The chart's Vega-Lite spec with its data inline and a fixed width, fit for a file."""
    return _inline(chart).properties(width=width).to_dict(validate=False)


def chart_image(chart: alt.TopLevelMixin, fmt: str, width: int = EXPORT_WIDTH) -> bytes:
    """The chart drawn to PNG (2x scale) or SVG bytes with vl-convert."""
    import vl_convert

    spec = chart_spec(chart, width)
    if fmt == "svg":
        return vl_convert.vegalite_to_svg(spec).encode()
    if fmt == "png":
        return vl_convert.vegalite_to_png(spec, scale=2)
    raise ValueError(f"format must be png or svg, got {fmt!r}")


# ---- the Compare page's set ----------------------------------------------------------------------


def compare_charts(
    epochs_df: pd.DataFrame,
    grads_df: pd.DataFrame,
    ends_df: pd.DataFrame,
    names: Mapping[int, str],
    epoch: int | None = None,
    per_run_flow: bool = False,
) -> dict[str, alt.TopLevelMixin]:
    """Every chart the Compare page shows, by key: loss, accuracy, ratio, heatmap-<id> per run, and either
    flow (all runs at `epoch`, or each at its latest when None) or, with `per_run_flow`, flow-<id> per run
    (its epochs overlaid, as in the report's figures). Only what is shown is built.

    `grads_df` may hold only some epochs (the page loads those it draws); `ends_df` holds every epoch.
    """
    label = {int(k): v for k, v in names.items()}
    epochs_df = epochs_df.assign(run=epochs_df["run_id"].map(label))
    grads_df = grads_df.assign(run=grads_df["run_id"].map(label))
    out: dict[str, alt.TopLevelMixin] = {"loss": loss_chart(epochs_df), "accuracy": accuracy_chart(epochs_df)}
    if per_run_flow:
        for run_id, rows in grads_df.groupby("run_id", sort=False):
            out[f"flow-{run_id}"] = gradient_flow_chart(rows, title=f"{label.get(int(run_id), run_id)}: every epoch")
    elif epoch is None:  # each run at its own latest epoch
        latest = grads_df.groupby("run_id")["epoch"].transform("max")
        at = grads_df[grads_df["epoch"] == latest]
        out["flow"] = gradient_flow_chart(at, title="Mean |gradient| per layer, latest epoch of each run")
    else:
        out["flow"] = gradient_flow_chart(grads_df, epoch)
    out["ratio"] = gradient_ratio_chart(ends_df.assign(run=ends_df["run_id"].map(label)))
    for run_id, rows in grads_df.groupby("run_id", sort=False):
        out[f"heatmap-{run_id}"] = gradient_heatmap(rows, title=str(label.get(int(run_id), run_id)))
    return out
