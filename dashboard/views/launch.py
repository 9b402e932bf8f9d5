"""Launch: a form for one run; RunConfig validates it, worker.queue queues it."""

import streamlit as st

from dashboard import common
from vgp_models.config import PRESETS, SHORTCUTS, ConfigError, RunConfig

DEPTHS = {8: "VGG08", 38: "VGG38"}
DEFAULTS = RunConfig()

st.title("Launch a run")
st.caption("VGG networks on CIFAR-100: watch gradients vanish with depth, and come back with BN and residuals.")

queue_up = common.queue_available()
if not queue_up:
    st.error(
        "The queue (Redis) is not reachable, so no run can be queued. Start Redis and a worker "
        "(`python -m worker worker`), then reload this page.",
        icon=":material/cloud_off:",
    )

mode = st.radio("Network", ["Preset", "Custom"], horizontal=True, key="mode")

with st.form("launch"):
    if mode == "Preset":
        preset = st.selectbox(
            "Preset", list(PRESETS), key="preset", format_func=lambda k: f"{k} ({RunConfig.from_preset(k).label})"
        )
    else:
        left, right = st.columns(2)
        depth = left.selectbox("Depth", list(DEPTHS), format_func=DEPTHS.get, key="depth")
        shortcut = right.selectbox("Reduction-block shortcut", SHORTCUTS, key="shortcut")
        batch_norm = left.checkbox("Batch norm", key="batch_norm")
        residual = right.checkbox("Residual connections", key="residual")
    c1, c2, c3 = st.columns(3)
    lr = c1.number_input("Learning rate", value=DEFAULTS.lr, step=1e-4, format="%g", key="lr")
    epochs = c2.number_input("Epochs", value=DEFAULTS.epochs, step=1, key="epochs")
    batch_size = c3.number_input("Batch size", value=DEFAULTS.batch_size, step=1, key="batch_size")
    seed = c1.number_input("Seed", value=DEFAULTS.seed, step=1, key="seed")
    subset = c2.number_input(
        "Subset", value=DEFAULTS.subset, step=1, key="subset", help="Keep at most this many images per split; 0 = all"
    )
    name = c3.text_input("Name (optional)", key="name", max_chars=200)
    submitted = st.form_submit_button(
        "Queue run", type="primary", icon=":material/rocket_launch:", disabled=not queue_up, key="submit"
    )

if submitted:
    overrides = dict(lr=float(lr), epochs=int(epochs), batch_size=int(batch_size), seed=int(seed), subset=int(subset))
    try:
        if mode == "Preset":
            config = RunConfig.from_preset(preset, **overrides)
        else:
            arch = dict(depth=depth, batch_norm=batch_norm, residual=residual, shortcut=shortcut)
            config = RunConfig.from_dict({**arch, **overrides})
    except ConfigError as error:
        common.show_error(error)
        st.stop()
    with common.guard("Could not queue the run: "):
        run_id = common.submit(config, name=name.strip() or None)
    st.success(f"Queued run #{run_id}: {config.label}, {config.epochs} epochs.", icon=":material/check_circle:")
    st.page_link(
        "views/run.py", label=f"Open run #{run_id}", icon=":material/monitoring:", query_params={"run": run_id}
    )
