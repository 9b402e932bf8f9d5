"""Loss landscape: the train loss and accuracy around a run's checkpoint (or a fresh net) along filter-normalised
random directions (vgp_models.landscape, after Li et al. 2018), queued as a job with progress and cancel; a 2D grid
as a contour plot, a 1D slice as curves, several side by side on one colour scale; the points as CSV."""

import pandas as pd
import streamlit as st

from dashboard import charts, display, downloads, errors, landscapes, outages, reads, statuses
from vgp_models.config import PRESETS, ConfigError
from vgp_models.landscape_config import KINDS, MAX_IMAGES, MAX_POINTS, LandscapeConfig
from worker import cancellation, connection, submission

SOURCES = {"run": "A run's checkpoint", "fresh": "A fresh net (at initialisation)"}

st.title("Loss landscape")
st.caption("Train loss and accuracy at θ + α·d₁ + β·d₂ around a net's weights θ: d₁, d₂ are seeded Gaussian "
           "directions, each filter scaled to the norm of θ's filter; biases and BN parameters stay put (Li, Xu, "
           "Taylor, Studer and Goldstein, NeurIPS 2018). Measured on the first N training images, un-augmented, BN "
           "in eval mode. Each point is one forward pass over the images: about 6 s of a CPU core per 1,000 images "
           "for VGG38, so a 21×21 grid takes about 45 min of a core (docs/benchmarks.md).")  # fmt: skip

queue_up = outages.queue_available()
if not queue_up:
    st.error(display.plain(f"{connection.redis_unreachable_message()}: no landscape can be queued."),
             icon=":material/cloud_off:")  # fmt: skip

with errors.guard("Cannot read the runs: "):
    runs = reads.load_runs()
titles = dict(zip(runs["id"].astype(int), runs["title"])) if not runs.empty else {}

with st.expander("New landscape", expanded=True):
    source = st.segmented_control("Around", list(SOURCES), format_func=SOURCES.get, required=True,
                                  default="run" if titles else "fresh", key="landscape_source")  # fmt: skip
    cols = st.columns(2)
    run_id = preset = None
    kind = "best"
    if source == "run":
        run_id = cols[0].selectbox("Run", list(titles), format_func=titles.get,
                                   key="landscape_run", help="Its kept checkpoint is loaded (best unless "
                                   "VGP_KEEP_CHECKPOINTS=none; an unfinished run also has its last)")  # fmt: skip
        kind = cols[1].selectbox("Checkpoint", KINDS, key="landscape_kind")
    else:
        preset = cols[0].selectbox("Preset", list(PRESETS), index=list(PRESETS).index("vgg38"), key="landscape_preset")
    cols = st.columns(4)
    dims = cols[0].segmented_control("Dimensions", [2, 1], format_func=lambda d: f"{d}D", default=2, required=True,
                                     key="landscape_dims")  # fmt: skip
    points = cols[1].number_input("Points per axis", 3, MAX_POINTS, 21 if dims == 2 else 41, step=2,
                                  key=f"landscape_points_{dims}", help="Odd: the centre is on the grid")  # fmt: skip
    images = cols[2].number_input("Images", 1, MAX_IMAGES, 1000, step=100, key="landscape_images")
    span = cols[3].number_input("Span (±)", 0.05, 10.0, 1.0, step=0.25, key="landscape_span")
    cols = st.columns(4)
    seed = cols[0].number_input("Direction seed", 0, 2**31 - 1, 0, key="landscape_seed")
    device = cols[1].selectbox("Device", ("cpu", "auto", "cuda"), key="landscape_device")
    amp = cols[2].checkbox("bf16 autocast", key="landscape_amp", help="Faster on a GPU; slower on most CPUs")
    try:
        config = LandscapeConfig(run_id=None if run_id is None else int(run_id), preset=preset, kind=kind, dims=dims,
                                 points=int(points), span=float(span), images=int(images), seed=int(seed), amp=amp,
                                 device=device)  # fmt: skip
        if config.run_id is None and config.preset is None:
            raise ConfigError("no run to take a checkpoint from: launch one, or choose a fresh net")
    except ConfigError as e:
        config = None
        st.error(display.plain(str(e)), icon=":material/error:")
    if st.button("Queue landscape", type="primary", icon=":material/play_arrow:", key="landscape_submit",
                 disabled=not queue_up or config is None) and config is not None:  # fmt: skip
        with errors.guard("Could not queue the landscape: "):
            st.session_state["landscape_chosen"] = submission.submit_landscape(config)
            st.success(f"Queued landscape #{st.session_state['landscape_chosen']:d}: {config.total:d} points.",
                       icon=":material/check_circle:")  # fmt: skip

with errors.guard("Cannot read the landscapes: "):
    table = reads.load_landscapes()
if table.empty:
    st.info("No landscape yet: queue one above.", icon=":material/info:")
    st.stop()
names = {int(r["id"]): landscapes.landscape_name(r, titles) for r in table.to_dict("records")}
ids = list(names)
if st.session_state.get("landscape_chosen") not in ids:
    st.session_state["landscape_chosen"] = ids[0]
chosen = st.selectbox("Landscape", ids, key="landscape_chosen", format_func=names.get)
live = table.set_index("id").loc[chosen, "status"] in statuses.ACTIVE


def draw(points: pd.DataFrame, stem: str, key: str) -> None:
    """2D landscapes as contours side by side on one colour scale, 1D ones as curves; PNG/SVG buttons."""
    for dims, group in points.groupby(points["beta"].notna().map({True: 2, False: 1}), sort=False):
        chart = charts.contours_side_by_side(group) if dims == 2 else charts.curve_chart(group)
        downloads.chart_with_buttons(chart, f"{stem}-{dims}d", f"{key}-{dims}d")


@st.fragment(run_every=statuses.LIVE_S if live else None)
def show(landscape_id: int) -> None:
    with errors.guard("Cannot read the landscape: "):
        row = reads.load_landscapes().set_index("id").loc[landscape_id].to_dict()
        points = landscapes.named_points(reads.load_landscape_points([landscape_id]), names)
    with st.container(horizontal=True, vertical_alignment="center"):
        statuses.status_badge(row["status"])
        fraction, text = landscapes.progress(row)
        st.progress(fraction, text=text)
    if row["reason"]:
        st.caption(display.plain(row["reason"]))
    if row["status"] in statuses.ACTIVE and st.button("Cancel landscape", key="landscape_cancel",
                                                      icon=":material/cancel:"):  # fmt: skip
        with errors.guard("Could not cancel: "):
            cancellation.cancel_landscape(landscape_id)
        st.rerun()
    if points["loss"].notna().any():
        draw(points, f"landscape-{landscape_id}", "landscape")
    downloads.csv_button("Landscape CSV", lambda: points, f"landscape-{landscape_id}.csv", key="landscape_csv",
                         disabled=points.empty)  # fmt: skip
    if live and row["status"] not in statuses.ACTIVE:
        st.rerun()  # it finished: stop refreshing


show(int(chosen))

st.subheader("Compare landscapes")
done = [i for i in ids if table.set_index("id").loc[i, "status"] == "completed"]
picked = st.multiselect("Landscapes", done, default=done[:3] if len(done) > 1 else [], key="landscape_compare",
                        format_func=names.get,
                        help="2D ones side by side on one colour scale; 1D ones as curves on one chart")  # fmt: skip
if len(picked) < 2:
    st.caption("Choose two or more completed landscapes, e.g. VGG38, VGG38 RC and VGG38 BN+RC.")
else:
    with errors.guard("Cannot read the landscapes: "):
        compared = landscapes.named_points(reads.load_landscape_points(picked), names)
    draw(compared, "landscapes", "landscape-compare")
    downloads.csv_button("Compared landscapes CSV", lambda: compared, "landscapes.csv", key="landscape_compare_csv")
