"""Compare: several runs' loss and accuracy, gradient flow (one epoch, or every epoch per run as in the
report's figures), layer x epoch heatmaps and the input/last-layer gradient ratio, with the vanishing-gradient
flag; why it vanishes (forward signal, weight updates, gain per layer, each run at its latest epoch); runs
that share a config except the seed also averaged (mean with a band, seed noise); CSV, PNG and SVG exports.
Live while a chosen run is queued or running."""

import pandas as pd
import streamlit as st

from dashboard import (
    charts,
    display,
    downloads,
    errors,
    reads,
    run_folder_imports,
    seeds,
    statuses,
    table1,
    vanishing,
    why,
)
from dashboard.step_curves import per_step

st.title("Compare runs")
run_folder_imports.show_outcome()  # after "Load the reference results", which opens this page

runs = reads.runs_or_stop()

ids = runs["id"].astype(int).tolist()
titles = dict(zip(ids, [f"{title} ({status})" for title, status in zip(runs["title"], runs["status"])]))
if "compare_runs" not in st.session_state:  # Table 1's VGG08 and VGG38 as Results chooses them: healthy vs broken
    st.session_state["compare_runs"] = table1.default_compare(runs, st.session_state.get(table1.PICKS))
st.session_state["compare_runs"] = [i for i in st.session_state["compare_runs"] if i in titles]
chosen = st.multiselect("Runs", ids, format_func=titles.get, key="compare_runs", persist_state="session",
                        placeholder="Choose runs to compare")  # fmt: skip
if not chosen:
    st.info("Choose one or more runs.", icon=":material/info:")
    st.stop()
mode = st.segmented_control("Gradient flow", ["One epoch", "All epochs"], default="One epoch", key="compare_mode",
                            required=True, help="One epoch: every run on one chart. All epochs: one chart per run, "
                            "its epochs overlaid as in the report's figures")  # fmt: skip
layers = st.segmented_control("Layers", list(charts.LAYER_KINDS), format_func=charts.LAYER_KINDS.get, default="all",
                              required=True, key="compare_layers", help="Gradient flow: with batch norm, conv kernels "
                              "and BN weights alternate, their gradients orders of magnitude apart")  # fmt: skip
own_scales = st.toggle("Per-run heatmap colour scales", key="compare_own_scales", help="Off: every heatmap shares "
                       "one log colour scale, so that vanishing gradients look darker than healthy ones")  # fmt: skip
live = bool(runs.loc[runs["id"].isin(chosen), "status"].isin(statuses.ACTIVE).any())
LATEST = "latest"


def flags(ends: pd.DataFrame, names: dict[int, str]) -> None:
    for run_id, ratio in vanishing.flagged(ends).items():
        st.warning(display.md(vanishing.WARNING, name=names[run_id], ratio=ratio), icon=":material/warning:")


def pick_epoch(epochs: pd.DataFrame) -> int | str:
    options = [*sorted(epochs["epoch"].unique().tolist()), LATEST]
    return st.select_slider("Epoch", options, value=LATEST, key="compare_epoch",
                            format_func=lambda e: "each run's latest" if e == LATEST else str(e))  # fmt: skip


def pairs(keys: list[str], shown: dict, stem: str) -> None:
    """Charts two per row, each with its PNG/SVG downloads."""
    for start in range(0, len(keys), 2):
        for col, key in zip(st.columns(2), keys[start : start + 2]):
            with col:
                downloads.chart_with_buttons(shown[key], f"{stem}-{key}", f"cmp-{key}")


BANDS = {"minmax": "min..max", "sd": "±1 sd"}


def over_seeds(sel: pd.DataFrame, epochs: pd.DataFrame, grads: pd.DataFrame, stem: str) -> None:
    """Configs with several seeds among the chosen runs: mean curves and gradient flow with a band, the
    numbers' mean, sd and N with seed noise against the first config, and the seeds CSV."""
    rows = seeds.seed_rows(sel.sort_values("id"), epochs)  # oldest first: the first config is the reference
    if not rows["key"].duplicated().any():
        return
    st.subheader("Over seeds", anchor=False)
    kind = st.segmented_control("Band", list(BANDS), format_func=BANDS.get, default="minmax", required=True,
                                key="compare_band")  # fmt: skip
    config = rows.set_index("run_id")["config"]
    seeded_epochs = epochs.assign(config=epochs["run_id"].map(config))
    latest = grads[grads["epoch"] == grads.groupby("run_id")["epoch"].transform("max")]
    shown = {"seeds-loss": charts.seed_curve_chart(seeded_epochs, "loss", kind),
             "seeds-accuracy": charts.seed_curve_chart(seeded_epochs, "acc", kind)}  # fmt: skip
    pairs(list(shown), shown, stem)
    flow = charts.seed_flow_chart(latest.assign(config=latest["run_id"].map(config)), kind)
    downloads.chart_with_buttons(flow, f"{stem}-seeds-flow", "cmp-seeds-flow")
    st.caption("Gradient flow: each run at its latest epoch, averaged per layer over the config's seeds.")
    agg = seeds.aggregate_seeds(rows, ["config"])
    agg["seed_noise"] = seeds.seed_noise(agg, 0)
    columns = ["config", "n", "seeds", "seed_noise", "val_acc_pct", "val_acc_pct_sd", "val_loss", "val_loss_sd",
               "test_acc_pct", "test_acc_pct_sd", "train_acc_pct", "train_acc_pct_sd"]  # fmt: skip
    st.dataframe(agg[columns], hide_index=True, key="compare_seeds_table")
    st.caption("Numbers at each run's best-val epoch, accuracies in %; seed noise: is the difference in mean val "
               "acc from the first config's (its oldest run's) larger than the sum of their sample sds?")  # fmt: skip
    downloads.csv_button("Seeds CSV (per seed and aggregate)", lambda: downloads.seeds_csv(rows, ["config"]),
                         f"{stem}-seeds.csv", key="cmp-seeds-csv")  # fmt: skip


@st.fragment(run_every=statuses.LIVE_S if live else None)
def steps_view(names: dict[int, str], drawn: tuple) -> None:
    """The per-step loss, live within an epoch; one full rerun once a chosen run records an epoch or changes
    status, which redraws the rest."""
    with errors.guard("Cannot read the runs: "):
        steps = reads.load_steps(chosen)
        now = reads.versions(reads.load_runs(chosen)) if live else drawn
    per_step("cmp", steps.assign(run=steps["run_id"].map(names)))
    if now != drawn:
        st.rerun()


def compare() -> None:
    """Every chart of the chosen runs. Only the per-step loss is live (steps_view): the rest, up to a dozen charts
    that change once an epoch, is drawn by full runs; redrawing it every second was most of an open page's CPU,
    on the server and in the browser (bench/live_page.py)."""
    with errors.guard("Cannot read the runs: "):
        sel = reads.load_runs(chosen)
        drawn = reads.versions(sel)
        epochs, grads, ends = reads.load_compare(tuple(chosen), drawn)
    names = dict(zip(sel["id"].astype(int), sel["title"]))
    flags(ends, names)
    steps_view(names, drawn)
    if epochs.empty:
        st.info("No epoch has finished yet in these runs.", icon=":material/hourglass_top:")
    else:
        epoch = pick_epoch(epochs) if mode == "One epoch" else LATEST
        if epoch != LATEST and epoch not in set(grads["epoch"]):
            extra = reads.load_epoch_gradients(tuple(chosen), int(epoch), drawn)
            grads = pd.concat([grads, extra], ignore_index=True)
        per_run = mode == "All epochs"
        shown = charts.compare_charts(epochs, grads, ends, names, None if epoch == LATEST else int(epoch), per_run,
                                      layers, shared_scale=not own_scales)  # fmt: skip
        stem = "compare-" + "-".join(str(i) for i in sorted(chosen))
        pairs(["loss", "accuracy"], shown, stem)
        st.subheader("Gradient flow", anchor=False)
        for key in [k for k in shown if k.startswith("flow")]:  # full width: every layer's label readable
            downloads.chart_with_buttons(shown[key], f"{stem}-{key}", f"cmp-{key}")
        st.caption("Mean |gradient| of each weight in the epoch's last batch, in forward order, log scale.")
        downloads.chart_with_buttons(shown["ratio"], f"{stem}-ratio", "cmp-ratio")
        st.subheader("Layer x epoch", anchor=False)
        pairs([k for k in shown if k.startswith("heatmap-")], shown, stem)
        scale = "each its own log colour scale" if own_scales else "one log colour scale shared by every run"
        st.caption(f"Heatmaps: {display.plain(scale)}; at most {charts.HEATMAP_EPOCHS:d} epochs, evenly spaced; the "
                   "CSVs hold every one.")  # fmt: skip
        over_seeds(sel, epochs, grads, stem)
        latest = tuple(epochs.groupby("run_id")["epoch"].max().astype(int).items())
        why.compare_section(*reads.load_latest_why(latest, drawn), names, stem)
    st.subheader("Export", anchor=False)
    downloads.run_csv_buttons(sorted(chosen), "compare-" + "-".join(str(i) for i in sorted(chosen)), "cmp-csv")


compare()
