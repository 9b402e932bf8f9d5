"""Run: one run's status, progress, loss/accuracy, gradient flow and why it vanishes (forward signal, weight
updates, gain per layer); live while it is queued or running."""

from typing import Any

import pandas as pd
import streamlit as st

from dashboard import charts, display, downloads, errors, progress, reads, run_actions, statuses, vanishing, why
from dashboard.step_curves import per_step

runs = reads.runs_or_stop(title="Run")

ids = runs["id"].astype(int).tolist()
titles = dict(zip(ids, [f"{title} ({status})" for title, status in zip(runs["title"], runs["status"])]))
asked = st.query_params.get("run")
wanted = reads.parse_run_id(asked)
if asked is not None and wanted not in ids:
    st.warning(f"There is no run {display.plain(repr(asked[:40]))}; showing the newest.", icon=":material/warning:")
run_id = st.selectbox("Run", ids, index=ids.index(wanted) if wanted in ids else 0, format_func=titles.get)
st.query_params["run"] = str(run_id)


def act(action, run_id: int) -> None:
    """Cancel or resume this run (run_actions): redraw the whole page, which follows its new status, or say why
    not."""
    ok, text = action([run_id])
    if not ok:
        st.error(display.plain(text), icon=":material/error:")
        return
    st.rerun(scope="app")


def header(run: dict[str, Any]) -> None:
    left, right = st.columns([4, 1], vertical_alignment="bottom")
    with left:
        st.header(display.plain(run["title"]), anchor=False)
        statuses.status_badge(run["status"])
    status, key = run["status"], int(run["id"])
    if status in statuses.ACTIVE and right.button("Cancel run", icon=":material/cancel:", key=f"cancel-{key}"):
        act(run_actions.cancel, key)
    resumable = status in statuses.RESUMABLE and run.get("origin") == "queued"  # an import or a tracked run: no job
    if resumable and right.button("Resume", icon=":material/replay:", key=f"resume-{key}"):
        act(run_actions.resume, key)  # the view goes live again
    if run.get("reason") and status not in ("completed", *statuses.ACTIVE):
        step = f" (step {run['diverged_step']})" if run.get("diverged_step") is not None else ""
        say = st.error if status == "failed" else st.warning  # cancelled, diverged, interrupted
        say(f"{status.capitalize()}{step}: {display.plain(run['reason'])}", icon=":material/info:")


def summary(run: dict[str, Any], epochs: pd.DataFrame) -> None:
    fraction, text = progress.bar(run, epochs["seconds"].dropna().tolist() if not epochs.empty else [])
    st.progress(fraction, text=text)
    best = f"epoch {run['best_epoch']}" if run.get("best_epoch") else None
    test_loss = run.get("test_loss")
    cols = st.columns(4)
    cols[0].metric("Best val acc", display.pct(run.get("best_val_acc")), best, delta_color="off", delta_arrow="off")
    cols[1].metric(
        "Test acc",
        display.pct(run.get("test_acc")),
        f"loss {test_loss:.3f}" if test_loss else None,
        delta_color="off",
        delta_arrow="off",
        help="Of the best-val checkpoint, after the last epoch",
    )
    cols[2].metric("Parameters", f"{run['params']:,}" if run.get("params") else "–")
    cols[3].metric("Device", run.get("device") or "–", help=f"Worker: {display.plain(run.get('worker_name') or '–')}")


def metric_charts(run_id: int, epochs: pd.DataFrame) -> None:
    if epochs.empty:
        st.info("No epoch has finished yet.", icon=":material/hourglass_top:")
        return
    for col, (what, chart) in zip(st.columns(2), (("loss", charts.loss_chart), ("accuracy", charts.accuracy_chart))):
        with col:
            downloads.chart_with_buttons(chart(epochs), f"run-{run_id}-{what}", f"run-{what}-{run_id}")


def gradient_flow(run_id: int, grads: pd.DataFrame) -> None:
    st.subheader("Gradient flow", anchor=False)
    if grads.empty:
        st.caption("Mean |gradient| per layer appears after the first epoch.")
        return
    for flagged_id, ratio in vanishing.flagged(vanishing.gradient_ends(grads)).items():
        st.warning(display.md(vanishing.WARNING, name=f"run #{flagged_id}", ratio=ratio), icon=":material/warning:")
    epochs = sorted(grads["epoch"].unique().tolist())
    epoch = None
    if grads["layer"].str.contains("_bn_").any():  # conv and BN weights alternate: let the user split them
        kind = st.segmented_control("Layers", list(charts.LAYER_KINDS), format_func=charts.LAYER_KINDS.get,
                                    default="all", required=True, key=f"layers-{run_id}")  # fmt: skip
        grads = charts.layers_of_kind(grads, kind)
    if len(epochs) > 1 and st.toggle("One epoch", key=f"one-epoch-{run_id}"):
        epoch = st.select_slider("Epoch", epochs, value=epochs[-1], key=f"epoch-{run_id}")
    downloads.chart_with_buttons(charts.gradient_flow_chart(grads, epoch), f"run-{run_id}-flow", f"run-flow-{run_id}")
    thinned = epoch is None and len(epochs) > charts.MAX_GRAD_LINES
    shown = f" {charts.MAX_GRAD_LINES} of {len(epochs)} epochs shown, evenly spaced." if thinned else ""
    zeros = charts.zero_gradients(grads, epoch)
    hidden = f" {zeros} exact zero(s) cannot sit on the log axis and are not drawn." if zeros else ""
    st.caption(
        f"Mean |gradient| of each weight in the epoch's last batch, in forward order.{display.plain(shown + hidden)}"
    )


def show(run_id: int) -> None:
    """Draw the run. What moves within an epoch (status, progress, per-step loss) is live: two fragments rerun
    every LIVE_S. What changes once an epoch (the curves, gradient flow, why it vanishes: up to nine charts) is
    drawn by full runs only; the status fragment asks for one when an epoch is recorded or the status moves.
    Redrawing those charts every second was most of an open page's CPU, on the server and in the browser
    (bench/live_page.py)."""
    with errors.guard("Cannot read the run: "):
        run = reads.load_run(run_id)
        if run is None:
            st.warning(f"Run #{run_id:d} no longer exists.")
            return
        drawn = reads.run_version(run)
        epochs, grads, signals = reads.load_run_metrics(run_id, drawn)
    live = run["status"] in statuses.ACTIVE

    def current() -> dict[str, Any] | None:
        """The run as it is now: re-read on a live page (None once it is gone)."""
        if not live:
            return run
        with errors.guard("Cannot read the run: "):
            return reads.load_run(run_id)

    @st.fragment(run_every=statuses.LIVE_S if live else None)
    def status_view() -> None:
        now = current()
        if now is not None:
            header(now)
            summary(now, epochs)
        if now is None or reads.run_version(now) != drawn:
            st.rerun()  # after the header: a click on Cancel in this very rerun is acted on first

    @st.fragment(run_every=statuses.LIVE_S if live else None)
    def steps_view() -> None:
        with errors.guard("Cannot read the run's steps: "):
            steps = reads.load_run_steps(run_id, reads.progress_version(current() or run))
        per_step(f"run-{run_id}", steps)

    status_view()
    metric_charts(run_id, epochs)
    steps_view()
    gradient_flow(run_id, grads)
    if not grads.empty:
        why.run_section(run_id, signals, grads)
    downloads.run_csv_buttons([run_id], f"run-{run_id}", f"dl-{run_id}")
    with st.expander("Config"):
        st.json(run.get("config") or {})


show(run_id)
