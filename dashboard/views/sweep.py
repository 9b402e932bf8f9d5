"""Depth sweep: for every depth and every cure, the input/last-layer gradient ratio of fresh nets on a few real
batches (vgp_models.sweep), and beside it the std of the last conv's output across the batch (the forward
signal), queued as a job; where each cure starts to vanish, with a band over seeds. Live while the chosen sweep
is queued or running; the points as CSV, the charts as PNG/SVG."""

import streamlit as st

from dashboard import charts, display, downloads, errors, outages, reads, statuses
from vgp_models.config import ConfigError
from vgp_models.cures import CURES
from vgp_models.sweep_config import DEPTHS, SweepConfig
from vgp_models.vanishing import VANISHING_RATIO
from worker import cancellation, connection, submission

DEFAULTS = SweepConfig()
BANDS = {"minmax": "min..max", "sd": "±1 sd"}

st.title("Depth sweep at initialisation")
st.caption("No training: each net is built (one per seed), run forward and backward on the same few training "
           "batches, and its input layer's mean |gradient| divided by its last layer's. Below "
           f"{VANISHING_RATIO:g} the input layer is as good as frozen. Beside it, how much the last conv's "
           "output still varies with the input image (its std across the batch).")  # fmt: skip

queue_up = outages.queue_available()
if not queue_up:
    st.error(display.plain(f"{connection.redis_unreachable_message()}: no sweep can be queued."),
             icon=":material/cloud_off:")  # fmt: skip

with st.expander("New sweep", expanded=True):
    depths = st.multiselect("Depths", DEPTHS, default=list(DEFAULTS.depths), key="sweep_depths")
    cures = st.multiselect("Cures", list(CURES), default=list(DEFAULTS.cures), key="sweep_cures",
                           help="RunConfig overrides of vgp_models/cures.py, each applied to every depth")  # fmt: skip
    cols = st.columns(4)
    seeds = cols[0].number_input("Seeds", 1, 20, DEFAULTS.seeds, key="sweep_seeds", help="Inits per net: the band")
    batches = cols[1].number_input("Batches", 1, 50, DEFAULTS.batches, key="sweep_batches")
    batch_size = cols[2].number_input("Batch size", 1, 1000, DEFAULTS.batch_size, key="sweep_batch_size")
    device = cols[3].selectbox("Device", ("cpu", "auto", "cuda"), key="sweep_device")
    try:
        config = SweepConfig(tuple(depths), tuple(cures), int(seeds), int(batches), int(batch_size), device)
    except ConfigError as e:
        config = None
        st.error(display.plain(e), icon=":material/error:")
    if st.button("Queue sweep", type="primary", icon=":material/play_arrow:", key="sweep_submit",
                 disabled=not queue_up or config is None) and config is not None:  # fmt: skip
        with errors.guard("Could not queue the sweep: "):
            st.session_state["sweep_chosen"] = submission.submit_sweep(config)
        st.success(f"Queued sweep #{st.session_state['sweep_chosen']:d}: {len(config.cells()):d} (cure, depth) "
                   f"cells x {config.seeds:d} seeds.", icon=":material/check_circle:")  # fmt: skip

with errors.guard("Cannot read the sweeps: "):
    sweeps = reads.load_sweeps()
if sweeps.empty:
    st.info("No sweep yet: queue one above.", icon=":material/info:")
    st.stop()
live = bool(sweeps["status"].isin(statuses.ACTIVE).any())


def show(row: dict, points) -> None:
    """One sweep: its status and progress, cancel while active, the chart, skipped cells and the CSV."""
    sweep_id = int(row["id"])
    top = st.container(horizontal=True, vertical_alignment="center")
    with top:
        statuses.status_badge(row["status"])
        st.progress(row["cells_done"] / max(row["cells_total"], 1),
                    text=f"{row['cells_done']} of {row['cells_total']} (cure, depth) cells")  # fmt: skip
    if row["reason"]:
        st.caption(display.plain(row["reason"]))  # a failure reason may quote a hostile pickle's names
    if row["status"] in statuses.ACTIVE and st.button("Cancel sweep", key="sweep_cancel", icon=":material/cancel:"):
        with errors.guard("Could not cancel: "):
            cancellation.cancel_sweep(sweep_id)
        st.rerun()
    if points["ratio"].gt(0).any():
        kind = st.segmented_control("Band", list(BANDS), format_func=BANDS.get, default="minmax", required=True,
                                    key="sweep_band")  # fmt: skip
        shown = [value for value in ("ratio", "last_signal_std") if points[value].gt(0).any()]  # older: ratio only
        for col, value in zip(st.columns(len(shown)), shown):
            with col:
                stem = f"sweep-{sweep_id}" + ("" if value == "ratio" else "-signal")
                downloads.chart_with_buttons(charts.sweep_chart(points, kind, value), stem, f"sweep-chart-{value}")
        st.caption(f"The dashed line: {VANISHING_RATIO:g}, below which the input layer is as good as "
                   "frozen. Each cure has its own colour and dash pattern.")  # fmt: skip
    for note in points.loc[points["note"] != "", "note"].drop_duplicates():
        st.caption(f"Skipped: {display.plain(note)}")
    downloads.csv_button("Sweep CSV", lambda: points, f"sweep-{sweep_id}.csv", key="sweep_csv",
                         disabled=points.empty)  # fmt: skip


# The picker and the sweep it shows are read in the same (fragment) run, so that the picker's status is never
# older than the badge: while any sweep is queued or running, both refresh every LIVE_S.
@st.fragment(run_every=statuses.LIVE_S if live else None)
def sweeps_view() -> None:
    with errors.guard("Cannot read the sweeps: "):
        fresh = reads.load_sweeps().set_index("id", drop=False)
    ids = fresh["id"].astype(int).tolist()
    if st.session_state.get("sweep_chosen") not in ids:
        st.session_state["sweep_chosen"] = ids[0]
    # The picker names a sweep by id and time, not status: a kept widget goes on showing the label it was drawn
    # with, so a status there went stale ("queued" beside a completed sweep); the badge below is always fresh.
    chosen = st.selectbox("Sweep", ids, key="sweep_chosen",
                          format_func=lambda i: f"#{i} · {fresh.loc[i, 'created_at']:%Y-%m-%d %H:%M}")  # fmt: skip
    with errors.guard("Cannot read the sweep: "):
        points = reads.load_sweep_points(int(chosen))
    show(fresh.loc[chosen].to_dict(), points)
    if live and not fresh["status"].isin(statuses.ACTIVE).any():
        st.rerun()  # every sweep finished: stop refreshing


sweeps_view()
