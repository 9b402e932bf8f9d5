"""Launch: Table 1's seven runs (one click each, or all seven as one group), the report's future work, the
cures for VGG38 (vgp_models.cures, one click each or all as one group), and a custom run with every RunConfig
field, drawn from the fields' metadata (label, help, choices, section). RunConfig validates as you type;
worker.queue queues."""

import dataclasses
from datetime import datetime

import streamlit as st

from dashboard import cost, display, errors, outages, reads, run_actions, run_folder_imports, table1
from vgp_models import registry
from vgp_models.config import PRESETS, SECTIONS, TABLE1, ConfigError, RunConfig, choices_of
from vgp_models.cures import CURES
from worker import connection, submission
from worker.store import RunMeta

FUTURE = ("vgg38-bn-rc-avgpool", "vgg38-bn-rc-conv1x1", "vgg68-bn-rc", "vgg74-bn-rc", "vgg38-bn-rc-w64")
QUICK = {"epochs": "p_epochs", "batch_size": "p_batch_size", "subset": "p_subset"}
DEFAULTS = RunConfig()


def measured() -> tuple[dict[tuple, cost.Measured], str | None, bool]:
    """The epoch times measured so far by (device, architecture, precision), the workers' device, and whether
    the database holds no run (False when it cannot be read)."""
    try:
        runs = reads.load_runs()
        epochs = reads.load_cost_epochs(tuple(runs["id"].astype(int)), reads.versions(runs))
    except Exception as error:  # noqa: BLE001 - a store that cannot be read leaves the estimate unknown
        if not errors.is_expected(error):
            raise
        return {}, None, False
    return cost.measurements(runs, epochs), cost.workers_device(runs), runs.empty


st.title("Launch a run")
st.caption("VGG networks on CIFAR-100: watch gradients vanish with depth, and come back with BN and residuals.")

times, device, empty = measured()
if empty:  # a newcomer's first page: the shipped results before anything else
    run_folder_imports.welcome()

queue_up = outages.queue_available()
if not queue_up:
    st.error(
        display.plain(f"{connection.redis_unreachable_message()}: no run can be queued. Start it and a worker "
                      "(python -m worker worker), then reload this page."),
        icon=":material/cloud_off:",
    )  # fmt: skip


def flash(ok: bool, text: str, page: str | None = None, link: str = "", **params) -> None:
    st.session_state["launch_flash"] = (ok, text, page, link, params)


def quick() -> dict[str, int]:
    return {field: int(st.session_state[key]) for field, key in QUICK.items()}


def seeds() -> int:
    return int(st.session_state["p_seeds"])


def flash_group(queued: list[int], group: str) -> None:
    st.session_state["runs_group"] = [group]  # the Runs page opens filtered on the new group
    flash(True, f"Queued {len(queued)} runs as group “{group}”.", "views/runs.py", "Watch them on Runs")


def queue_presets(rows: list[tuple[str, dict, str]], group: str | None = None, tag: str = "table1") -> None:
    """Callback: queue (preset, overrides, name) rows with the quick settings, each repeated over the seeds asked
    for; a flash message says what happened. A group's runs carry `tag`."""
    queued: list[int] = []
    if group is None and seeds() > 1:  # one preset over several seeds: one group of its own
        config = RunConfig.from_preset(rows[0][0], **rows[0][1], **quick())
        group = run_actions.seeds_group(config, seeds())
    try:
        for preset, overrides, name in rows:
            config = RunConfig.from_preset(preset, **overrides, **quick())
            tags = [tag] if group and len(rows) > 1 else ()
            queued += submission.submit_seeds(config, seeds(), RunMeta(name=name, group=group, tags=tags))
    except Exception as error:  # noqa: BLE001 - expected ones become one line
        if not errors.is_expected(error):
            raise
        done = f" ({len(queued)} of {len(rows) * seeds()} queued)" if len(rows) * seeds() > 1 else ""
        return flash(False, f"Could not queue{done}: {errors.first_line(error)}")
    if group:
        return flash_group(queued, group)
    flash(True, f"Queued run #{queued[0]}: {rows[0][2]}.", "views/run.py", f"Open run #{queued[0]}", run=queued[0])


def reproduce_table1() -> None:
    rows = [(r.preset, {"lr": r.lr}, table1.table1_name(r.model, r.lr)) for r in TABLE1]
    queue_presets(rows, table1.table1_group(datetime.now()))


def cure_row(cure: str) -> tuple[str, dict, str]:
    """VGG38 with one cure of vgp_models.cures, named 'VGG38 + Kaiming init' ('VGG38' for none)."""
    return "vgg38", CURES[cure], "VGG38" if not CURES[cure] else f"VGG38 + {cure}"


def queue_cures() -> None:
    queue_presets([cure_row(cure) for cure in CURES], f"Cures for VGG38 · {datetime.now():%Y-%m-%d %H:%M:%S}",
                  tag="cures")  # fmt: skip


if notice := st.session_state.pop("launch_flash", None):
    ok, text, page, link, params = notice
    (st.success if ok else st.error)(display.plain(text), icon=":material/check_circle:" if ok else ":material/error:")
    if page:
        st.page_link(page, label=link, icon=":material/arrow_forward:", query_params=params or None)

st.subheader("Presets", anchor=False)
for field, key in QUICK.items():  # defaults through session_state, so that callbacks may set them
    st.session_state.setdefault(key, getattr(DEFAULTS, field))
for field in dataclasses.fields(RunConfig):
    st.session_state.setdefault(field.name, getattr(DEFAULTS, field.name))
cols = st.columns(4)
for col, (field, key) in zip(cols, QUICK.items()):
    col.number_input(field.replace("_", " ").capitalize(), step=1, key=key,
                     help="Applied to every preset below: keep it small for a quick try")  # fmt: skip
cols[3].number_input("Repeat with N seeds", min_value=1, max_value=submission.MAX_SEEDS, step=1, value=1,
                     key="p_seeds", help="Every launch on this page queues N runs that differ only in seed (the "
                     "seed, +1, ...), as one group; Results and Compare average them")  # fmt: skip
try:
    RunConfig.from_preset("vgg08", **quick())
    quick_error = None
except ConfigError as error:
    quick_error = str(error)
    st.error(display.plain(quick_error), icon=":material/error:")
blocked = not queue_up or quick_error is not None


def cost_text(rows: list) -> str:
    """'about 31 h 10 min on this cpu (from ...)' for Table 1 rows queued with the quick settings, or 'unknown ...'."""
    where = f"on this {device}" if device else "on the workers' device"
    if quick_error is not None:
        return f"unknown {where}"
    configs = [RunConfig.from_preset(row.preset, lr=row.lr, **quick()).to_dict() for row in rows]
    found = cost.estimate(configs, times, device)
    if found is None:
        return f"unknown {where} (no epoch measured there yet)"
    return f"about {display.fmt_duration(found.seconds)} {where} ({found.basis})"


st.markdown("**Table 1 of the report**: one click a row, or all seven as one group with the settings above")
st.caption(f"Reproduce Table 1, {st.session_state['p_epochs']:d} epochs: {display.plain(cost_text(list(TABLE1)))}.")
st.button("Reproduce Table 1", type="primary", icon=":material/playlist_play:", disabled=blocked, key="table1",
          on_click=reproduce_table1)  # fmt: skip
grid = st.columns(4)
for i, row in enumerate(TABLE1):
    rows = [(row.preset, {"lr": row.lr}, table1.table1_name(row.model, row.lr))]
    grid[i % 4].button(f"{row.model} · lr {table1.lr_text(row.lr)}", key=f"t1-{i}", disabled=blocked,
                       width="stretch", on_click=queue_presets, args=(rows,), help=cost_text([row]))  # fmt: skip

st.markdown("**The report's future work**: shortcuts around reduction blocks, deeper nets, wider nets")
grid = st.columns(len(FUTURE))
for col, preset in zip(grid, FUTURE):
    label = RunConfig.from_preset(preset).label
    col.button(label, key=f"fw-{preset}", disabled=blocked, width="stretch",
               on_click=queue_presets, args=([(preset, {}, label)],))  # fmt: skip

st.markdown("**Cures for VGG38**: the broken net with one cure each, or all of them as one group")
st.button("Cures for VGG38", type="primary", icon=":material/healing:", disabled=blocked, key="cures",
          on_click=queue_cures)  # fmt: skip
grid = st.columns(5)
for i, cure in enumerate(CURES):
    grid[i % 5].button(cure if CURES[cure] else "VGG38 alone", key=f"cure-{i}", disabled=blocked, width="stretch",
                       help=RunConfig.from_preset("vgg38", **CURES[cure]).label, on_click=queue_presets,
                       args=([cure_row(cure)],))  # fmt: skip


def registered_counts() -> dict[str, int]:
    """Each registered architecture's parameter count (vgp_models.registry, counted in a child process: no torch
    here), or none with one line saying why."""
    try:
        return registry.parameter_counts()
    except registry.RegistryError as error:
        st.error(display.plain(f"Registered architectures unavailable: {error}"), icon=":material/error:")
        return {}


COUNTS = registered_counts()
ARCH_NAMES = {arch: f"{arch} · {COUNTS[arch]:,} parameters" if arch in COUNTS else arch for arch in registry.names()}
if COUNTS:
    st.markdown("**Registered architectures**: networks this installation's workers registered "
                "(docs/registered-architectures.md), one click each with the settings above")  # fmt: skip
    grid = st.columns(4)
    for i, arch in enumerate(COUNTS):  # vgg08's preset is RunConfig's defaults: only `arch` differs
        grid[i % 4].button(ARCH_NAMES[arch], key=f"arch-{arch}", disabled=blocked, width="stretch",
                           on_click=queue_presets, args=([("vgg08", {"arch": arch}, arch)],))  # fmt: skip

st.subheader("Custom run", anchor=False)


def start_from() -> None:
    values = {**dataclasses.asdict(DEFAULTS), **PRESETS[st.session_state["start_from"]]}
    for key in ("arch", "depth", "width", "batch_norm", "residual", "shortcut"):
        st.session_state[key] = values[key]


st.selectbox("Start from", list(PRESETS), key="start_from", on_change=start_from, index=None,
             placeholder="a preset's architecture (optional)")  # fmt: skip
fields = dataclasses.fields(RunConfig)
try:  # validated from session_state before drawing, so that an error shows under its own field
    config = RunConfig.from_dict({f.name: st.session_state[f.name] for f in fields})
    run_actions.check_budget(config)  # this installation's memory budgets: one line, before Queue
    error = None
except ConfigError as e:
    config, error = None, str(e)
bad = next((w for w in (error or "").split()[:1] if w in {f.name for f in fields}), None)  # "lr must be ..."


def field_input(col, field) -> None:
    """The widget for one RunConfig field, keyed by its name, labelled and explained by its metadata."""
    meta, name = field.metadata, field.name
    label, tip = meta["label"] or name.replace("_", " ").capitalize(), meta["help"]
    if choices := choices_of(field):
        col.selectbox(label, choices, key=name, help=tip, format_func=ARCH_NAMES.get if name == "arch" else str)
    elif field.type == "bool":
        col.checkbox(label, key=name, help=tip)
    elif field.type == "str":
        col.text_input(label, key=name, help=tip, max_chars=40)
    elif field.type == "float":
        col.number_input(label, step=1e-4, format="%g", key=name, help=tip)
    else:
        col.number_input(label, step=6 if name == "depth" else 1, key=name, help=tip)


for section in SECTIONS:
    st.markdown(f"**{display.plain(section.capitalize())}**")
    in_section = [f for f in fields if f.metadata["section"] == section]
    for start in range(0, len(in_section), 4):
        for col, field in zip(st.columns(4, vertical_alignment="bottom"), in_section[start : start + 4]):
            field_input(col, field)
            if field.name == bad:
                col.error(display.plain(error), icon=":material/error:")
if error and not bad:
    st.error(display.plain(error), icon=":material/error:")
left, mid, right = st.columns([1, 1, 2])
name = left.text_input("Name (optional)", key="name", max_chars=200)
group = mid.text_input("Group (optional)", key="group", max_chars=200)
tags = right.text_input("Tags (comma-separated)", key="tags")
note = st.text_area("Note", key="note", height=68)
if st.button("Queue run", type="primary", icon=":material/rocket_launch:", disabled=not queue_up or error is not None,
             key="submit") and config is not None:  # fmt: skip
    group = group.strip() or (run_actions.seeds_group(config, seeds()) if seeds() > 1 else "")
    with errors.guard("Could not queue the run: "):
        meta = RunMeta(name=name.strip() or None, group=group, tags=tags.split(","), note=note)
        queued = submission.submit_seeds(config, seeds(), meta)
    if len(queued) > 1:
        flash_group(queued, group)
    else:
        flash(True, f"Queued run #{queued[0]}: {config.label}, {config.epochs} epochs.", "views/run.py",
              f"Open run #{queued[0]}", run=queued[0])  # fmt: skip
    st.rerun()  # the notice shows at the top, like the presets'
