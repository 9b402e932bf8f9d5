"""The Run and Compare pages' "Why it vanishes" section: the forward signal per layer output, each weight's
relative update over an epoch, and the gain per layer (charts in `dashboard.charts.signals`, gains from
`dashboard.gains`). Runs recorded before the forward signal and weight updates existed show the gain only."""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd
import streamlit as st

from dashboard import charts, display, downloads
from dashboard.gains import layer_gains, median_gains

TABS = ("Forward signal", "Weight updates", "Gain per layer")
SIGNAL_LABELS = {"std": "Std", "mean": "Mean", "negative_share": "Share < 0"}
UPDATE_LABELS = {"update_ratio": "Relative update", "weight_norm": "Weight norm"}
SIGNAL_CAPTION = (
    "Every conv, BN and activation output on the epoch's last full training batch. Std: how much each output "
    "value varies across the batch's images (its input-dependent part), a root mean square over the values. "
    "Share < 0: of the output for a conv or BN, of the input (the pre-activation) for an activation."
)
UPDATE_CAPTION = (
    "Per weight tensor: `‖w_end − w_start‖ / ‖w_start‖` over the epoch (how far it moved), or `‖w‖` at the epoch's end."
)
GAIN_CAPTION = (
    "Each conv and linear weight's mean |gradient| (the epoch's last batch) over the next one's: below 1, the "
    "gradient shrinks on its way back through that layer. BN weights are left out. The geometric mean is the "
    "constant gain per layer that compounds to the same input / last layer ratio."
)


def _pick(options: Mapping[str, str], key: str) -> str:
    if len(options) == 1:
        return next(iter(options))
    return st.segmented_control("Statistic", list(options), format_func=options.get, default=next(iter(options)),
                                required=True, key=key, label_visibility="collapsed")  # fmt: skip


def _recorded(frame: pd.DataFrame, options: Mapping[str, str], what: str) -> bool:
    """Whether `frame` holds the statistics; says so when not (a run recorded before VGP Lab measured them)."""
    if not frame.empty and frame[next(iter(options))].notna().any():
        return True
    st.caption(f"No {display.plain(what)} here: the run was recorded before VGP Lab measured it.")
    return False


def _run_tab(frame: pd.DataFrame, options: Mapping[str, str], what: str, epoch: int | None, stem: str) -> None:
    """A statistic (picked from `options`) along the network, then as a layer x epoch heatmap."""
    if not _recorded(frame, options, what):
        return
    stat = _pick(options, f"why-{stem}")
    downloads.chart_with_buttons(charts.per_layer_chart(frame, stat, epoch), f"{stem}-{stat}", f"why-{stem}-{stat}")
    downloads.chart_with_buttons(charts.layer_heatmap(frame, stat), f"{stem}-{stat}-heatmap",
                                 f"why-{stem}-{stat}-heatmap")  # fmt: skip


def _compare_tab(frame: pd.DataFrame, options: Mapping[str, str], what: str, stem: str) -> None:
    """A statistic (picked from `options`) along the network, every run at its latest epoch on one chart."""
    if not _recorded(frame, options, what):
        return
    stat = _pick(options, f"cmp-why-{what}")
    title = f"{options[stat]} per layer, latest epoch of each run"
    chart = charts.per_layer_chart(charts.latest_rows(frame), stat, title=title)
    downloads.chart_with_buttons(chart, f"{stem}-{stat}", f"cmp-why-{stat}")


def _gain_caption(gains: pd.DataFrame) -> str:
    median = median_gains(gains)
    if median.empty or pd.isna(median["median_gain"].iloc[0]):
        return GAIN_CAPTION
    row = median.iloc[0]
    median_text = f"{row['median_gain']:.3f}, geometric mean {row['geometric_gain']:.3f}, over {int(row['layers'])}"
    return f"{GAIN_CAPTION} Median at epoch {int(row['epoch'])}: {median_text} layers."


def _gain_text(gain: float) -> str:
    return "–" if pd.isna(gain) else f"{gain:.3f}"


def gain_table(gains: pd.DataFrame, names: Mapping[int, str]) -> pd.DataFrame:
    """Compare's table: each run's median gain per layer at its latest epoch, as text (a static table)."""
    median = median_gains(gains)
    return pd.DataFrame({
        "run": median["run_id"].map(lambda i: display.plain(names.get(int(i), f"#{i}"))),  # st.table renders Markdown
        "epoch": median["epoch"].astype(int),
        "median gain per layer": median["median_gain"].map(_gain_text),
        "geometric mean gain": median["geometric_gain"].map(_gain_text),
        "layers": median["layers"].astype(int),
    })  # fmt: skip


def run_section(run_id: int, signals: pd.DataFrame, grads: pd.DataFrame) -> None:
    """One run: each statistic along the network (every epoch, or one) and as a layer x epoch heatmap."""
    st.subheader("Why it vanishes", anchor=False)
    epochs = sorted(grads["epoch"].unique().tolist())
    epoch = None
    if len(epochs) > 1 and st.toggle("One epoch", key=f"why-one-epoch-{run_id}"):
        epoch = st.select_slider("Epoch", epochs, value=epochs[-1], key=f"why-epoch-{run_id}")
    signal_tab, update_tab, gain_tab = st.tabs(TABS)
    with signal_tab:
        _run_tab(signals, SIGNAL_LABELS, "forward signal", epoch, f"run-{run_id}-signal")
        st.caption(SIGNAL_CAPTION)
    with update_tab:
        _run_tab(grads, UPDATE_LABELS, "weight updates", epoch, f"run-{run_id}-update")
        st.caption(UPDATE_CAPTION)
    with gain_tab:
        gains = layer_gains(grads)
        _run_tab(gains, {"gain": "Gain"}, "gain", epoch, f"run-{run_id}-gain")
        st.caption(display.plain(_gain_caption(gains)))  # our text, but built from numbers: escaped like any


def compare_section(signals: pd.DataFrame, grads: pd.DataFrame, names: Mapping[int, str], stem: str) -> None:
    """Several runs, each at its latest epoch, on one chart per statistic; the median gain per layer as a table."""
    st.subheader("Why it vanishes", anchor=False)
    label = {int(k): v for k, v in names.items()}
    gains = layer_gains(grads)
    signals, grads, gains = (f.assign(run=f["run_id"].map(label)) for f in (signals, grads, gains))
    signal_tab, update_tab, gain_tab = st.tabs(TABS)
    with signal_tab:
        _compare_tab(signals, SIGNAL_LABELS, "forward signal", stem)
        st.caption(SIGNAL_CAPTION)
    with update_tab:
        _compare_tab(grads, UPDATE_LABELS, "weight updates", stem)
        st.caption(UPDATE_CAPTION)
    with gain_tab:
        _compare_tab(gains, {"gain": "Gain"}, "gain", stem)
        st.table(gain_table(gains, label))
        st.caption(GAIN_CAPTION)
