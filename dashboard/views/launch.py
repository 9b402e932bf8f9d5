"""Launch: Table 1's seven runs (one click each, or all seven as one group), the report's future work, and a
custom run with every RunConfig field. RunConfig validates as you type; worker.queue queues."""

import dataclasses
from datetime import datetime

import streamlit as st

from dashboard import analysis, common
from vgp_models.config import DEVICES, PRESETS, SCHEDULES, SHORTCUTS, TABLE1, ConfigError, RunConfig

FUTURE = ("vgg38-bn-rc-avgpool", "vgg38-bn-rc-conv1x1", "vgg68-bn-rc", "vgg74-bn-rc", "vgg38-bn-rc-w64")
CHOICES = {"shortcut": SHORTCUTS, "schedule": SCHEDULES, "device": DEVICES}
HELP = {
    "depth": "8 + 6N: 8 (VGG08), 38 (VGG38), 68, 74, ...",
    "width": "Filters of every conv (F; the report: 32)",
    "shortcut": "Skip around reduction blocks (future work); needs residual connections",
    "schedule": "Cosine annealing stepped per epoch (reference) or per iteration (the 2023-25 framework)",
    "eta_min": "Cosine annealing's floor",
    "patience": "Stop after this many epochs without a val gain; 0 = off",
    "subset": "Keep at most this many images per split; 0 = all",
    "channels_last": "NHWC memory layout: faster convs, same maths",
    "amp": "bf16 autocast around forward and loss; weights, gradients and Adam stay fp32",
    "compile": "torch.compile the model for training steps (a one-off compile first)",
}
LABELS = {"lr": "Learning rate", "eta_min": "LR floor (eta_min)", "amp": "AMP (bf16)", "compile": "torch.compile"}
QUICK = {"epochs": "p_epochs", "batch_size": "p_batch_size", "subset": "p_subset"}
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


def flash(ok: bool, text: str, page: str | None = None, link: str = "", **params) -> None:
    st.session_state["launch_flash"] = (ok, text, page, link, params)


def quick() -> dict[str, int]:
    return {field: int(st.session_state[key]) for field, key in QUICK.items()}


def queue_presets(rows: list[tuple[str, float, str]], group: str | None = None) -> None:
    """Callback: queue (preset, lr, name) rows with the quick settings; a flash message says what happened."""
    queued = []
    try:
        for preset, lr, name in rows:
            config = RunConfig.from_preset(preset, lr=lr, **quick())
            queued.append(common.submit(config, name=name, group=group, tags=["table1"] if group else ()))
    except Exception as error:  # noqa: BLE001 - expected ones become one line
        if not common.is_expected(error):
            raise
        done = f" ({len(queued)} of {len(rows)} queued)" if group else ""
        return flash(False, f"Could not queue{done}: {common.one_line(error)}")
    if group:
        st.session_state["runs_group"] = [group]  # the Runs page opens filtered on the new group
        return flash(True, f"Queued {len(queued)} runs as group “{group}”.", "views/runs.py", "Watch them on Runs")
    flash(True, f"Queued run #{queued[0]}: {rows[0][2]}.", "views/run.py", f"Open run #{queued[0]}", run=queued[0])


def reproduce_table1() -> None:
    rows = [(r.preset, r.lr, analysis.table1_name(r)) for r in TABLE1]
    queue_presets(rows, analysis.table1_group(datetime.now()))


if notice := st.session_state.pop("launch_flash", None):
    ok, text, page, link, params = notice
    (st.success if ok else st.error)(text, icon=":material/check_circle:" if ok else ":material/error:")
    if page:
        st.page_link(page, label=link, icon=":material/arrow_forward:", query_params=params or None)

st.subheader("Presets", anchor=False)
for field, key in QUICK.items():  # defaults through session_state, so that callbacks may set them
    st.session_state.setdefault(key, getattr(DEFAULTS, field))
for field in dataclasses.fields(RunConfig):
    st.session_state.setdefault(field.name, getattr(DEFAULTS, field.name))
cols = st.columns(3)
for col, (field, key) in zip(cols, QUICK.items()):
    col.number_input(field.replace("_", " ").capitalize(), step=1, key=key,
                     help="Applied to every preset below: keep it small for a quick try")  # fmt: skip
try:
    RunConfig.from_preset("vgg08", **quick())
    quick_error = None
except ConfigError as error:
    quick_error = str(error)
    st.error(quick_error, icon=":material/error:")
blocked = not queue_up or quick_error is not None


def measured_rates() -> tuple[dict[tuple, float], str | None]:
    """Seconds per training image by (device, architecture) from the stored epochs, and the workers' device."""
    try:
        runs = common.load_runs()
        epochs = common.load_epochs(runs["id"].astype(int).tolist())
    except Exception as error:  # noqa: BLE001 - a store that cannot be read leaves the estimate unknown
        if not common.is_expected(error):
            raise
        return {}, None
    return analysis.image_seconds(runs, epochs), analysis.workers_device(runs)


def cost(rows: list) -> str:
    """'about 31 h 10 min on this cpu' for Table 1 rows queued with the quick settings, or 'unknown ...'."""
    where = f"on this {device}" if device else "on the workers' device"
    if quick_error is not None:
        return f"unknown {where}"
    configs = [RunConfig.from_preset(row.preset, lr=row.lr, **quick()).to_dict() for row in rows]
    seconds = analysis.estimate_seconds(configs, rates, device)
    if seconds is None:
        return f"unknown {where} (no epoch of this architecture measured there yet)"
    return f"about {common.fmt_duration(seconds)} {where}"


rates, device = measured_rates()
st.markdown("**Table 1 of the report**: one click a row, or all seven as one group with the settings above")
st.caption(f"Reproduce Table 1, {st.session_state['p_epochs']} epochs: {cost(list(TABLE1))}, "
           "from the measured epoch times of each architecture on that device.")  # fmt: skip
st.button("Reproduce Table 1", type="primary", icon=":material/playlist_play:", disabled=blocked, key="table1",
          on_click=reproduce_table1)  # fmt: skip
grid = st.columns(4)
for i, row in enumerate(TABLE1):
    rows = [(row.preset, row.lr, analysis.table1_name(row))]
    grid[i % 4].button(f"{row.model} · lr {analysis.lr_text(row.lr)}", key=f"t1-{i}", disabled=blocked,
                       width="stretch", on_click=queue_presets, args=(rows,), help=cost([row]))  # fmt: skip

st.markdown("**The report's future work**: shortcuts around reduction blocks, deeper nets, wider nets")
grid = st.columns(len(FUTURE))
for col, preset in zip(grid, FUTURE):
    label = RunConfig.from_preset(preset).label
    col.button(label, key=f"fw-{preset}", disabled=blocked, width="stretch",
               on_click=queue_presets, args=([(preset, DEFAULTS.lr, label)],))  # fmt: skip

st.subheader("Custom run", anchor=False)


def start_from() -> None:
    values = {**dataclasses.asdict(DEFAULTS), **PRESETS[st.session_state["start_from"]]}
    for key in ("depth", "width", "batch_norm", "residual", "shortcut"):
        st.session_state[key] = values[key]


st.selectbox("Start from", list(PRESETS), key="start_from", on_change=start_from, index=None,
             placeholder="a preset's architecture (optional)")  # fmt: skip
fields = dataclasses.fields(RunConfig)
try:  # validated from session_state before drawing, so that an error shows under its own field
    config, error = RunConfig.from_dict({f.name: st.session_state[f.name] for f in fields}), None
except ConfigError as e:
    config, error = None, str(e)
bad = next((w for w in (error or "").split()[:1] if w in {f.name for f in fields}), None)  # "lr must be ..."
for start in range(0, len(fields), 4):
    for col, field in zip(st.columns(4, vertical_alignment="bottom"), fields[start : start + 4]):
        name, tip = field.name, HELP.get(field.name)
        label = LABELS.get(name, name.replace("_", " ").capitalize())
        if name in CHOICES:
            col.selectbox(label, CHOICES[name], key=name, help=tip)
        elif field.type == "bool":
            col.checkbox(label, key=name, help=tip)
        elif field.type == "float":
            col.number_input(label, step=1e-4, format="%g", key=name, help=tip)
        else:
            col.number_input(label, step=6 if name == "depth" else 1, key=name, help=tip)
        if name == bad:
            col.error(error, icon=":material/error:")
if error and not bad:
    st.error(error, icon=":material/error:")
left, mid, right = st.columns([1, 1, 2])
name = left.text_input("Name (optional)", key="name", max_chars=200)
group = mid.text_input("Group (optional)", key="group", max_chars=200)
tags = right.text_input("Tags (comma-separated)", key="tags")
note = st.text_area("Note", key="note", height=68)
if st.button("Queue run", type="primary", icon=":material/rocket_launch:", disabled=not queue_up or error is not None,
             key="submit") and config is not None:  # fmt: skip
    with common.guard("Could not queue the run: "):
        run_id = common.submit(config, name=name.strip() or None, group=group, tags=tags.split(","), note=note)
    flash(True, f"Queued run #{run_id}: {config.label}, {config.epochs} epochs.", "views/run.py",
          f"Open run #{run_id}", run=run_id)  # fmt: skip
    st.rerun()  # the notice shows at the top, like the presets'
