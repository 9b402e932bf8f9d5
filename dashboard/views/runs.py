"""Runs: every run in one live table (status, progress and ETA, best val acc, the vanishing-gradient flag),
filters by status, group and tag, and actions on the selected runs."""

import pandas as pd
import streamlit as st

from dashboard import (
    display,
    downloads,
    errors,
    progress,
    reads,
    run_actions,
    run_folder_imports,
    runs_table,
    statuses,
    vanishing,
)
from vgp_models.vanishing import VANISHING_RATIO

st.title("Runs")
run_folder_imports.upload_panel()

runs = reads.runs_or_stop()

groups = sorted(g for g in runs["group_name"].dropna().unique() if g)
tags = sorted({t for ts in runs["tags"] for t in (ts or [])})
f1, f2, f3 = st.columns(3)
chosen_statuses = f1.multiselect("Status", statuses.RUN_STATUSES, key="runs_status", persist_state="session")
chosen_groups = f2.multiselect("Group", groups, key="runs_group", persist_state="session")
chosen_tags = f3.multiselect("Tag", tags, key="runs_tag", persist_state="session")
shown = runs_table.filter_runs(runs, chosen_statuses, chosen_groups, chosen_tags)

COLUMNS = {  # in display order, the most telling first; widths so that the table fits a page without scrolling
    "run": st.column_config.TextColumn(
        "Run",
        width="large",
        help="Its own name, if any, then its architecture, "
        "learning rate and every setting that differs from the reference's",
    ),
    "open": st.column_config.LinkColumn("", display_text="Open", width=50),
    "lr": st.column_config.NumberColumn("LR", format="%.0e", width=60),
    "status": st.column_config.TextColumn("Status", width=90),
    "progress": st.column_config.ProgressColumn(
        "Progress", min_value=0.0, max_value=1.0, format="percent", width="small"
    ),
    "epochs": st.column_config.TextColumn("Epoch", width="medium"),
    "eta": st.column_config.TextColumn("ETA", width="small"),
    "best val acc": st.column_config.NumberColumn("Best val acc", format=display.ACC_FORMAT, width="small"),
    "gradients": st.column_config.TextColumn(
        "Gradients",
        help=f"'vanishing': input layer < {VANISHING_RATIO:g} of the last layer's; "
        "'amplified': the latest epoch's gradients carry gradient amplification",
    ),
    "group": st.column_config.TextColumn("Group", width="small"),
    "tags": st.column_config.ListColumn("Tags", width="small"),
    "params": st.column_config.NumberColumn("Params", format="localized", width="small"),
    "device": st.column_config.TextColumn("Device", width="small"),
    "worker": st.column_config.TextColumn("Worker", width="small"),
    "created": st.column_config.DatetimeColumn("Created", format="YYYY-MM-DD HH:mm"),
}
live = bool(runs["status"].isin(statuses.ACTIVE).any())
IDLE_S = 5.0  # with nothing active, look this often for runs queued elsewhere
seen = {(int(i), s) for i, s in zip(runs["id"], runs["status"])}


@st.fragment(run_every=statuses.LIVE_S if live else IDLE_S)
def live_table() -> None:
    """Re-reads the store every LIVE_S while a run is active (else IDLE_S); a new run or a status change reruns
    the whole page, so that the filters, the selection list and the action buttons follow."""
    with errors.guard("Cannot read the runs: "):
        current = reads.load_runs()
        running = current.loc[current["status"] == "running", "id"].tolist()
        etas = progress.eta_seconds(current, reads.load_epochs(running) if running else pd.DataFrame())
        flags = vanishing.vanishing_gradients(reads.load_gradient_ends(latest=True))
    if {(int(i), s) for i, s in zip(current["id"], current["status"])} != seen:
        st.rerun()
    current = current[current["id"].isin(shown["id"])]
    table = runs_table.runs_table(current, etas, flags, display.fmt_duration)
    st.dataframe(table, hide_index=True, column_config=COLUMNS, column_order=list(COLUMNS), placeholder="–",
                 key="runs_table", width="stretch")  # fmt: skip
    st.caption(f"{len(current):d} of {len(runs):d} runs" + (" · refreshing while runs are active" if live else ""))


live_table()

titles = dict(zip(runs["id"].astype(int), runs["title"]))
left, right = st.columns([5, 1], vertical_alignment="bottom")
selected = left.multiselect("Selected runs", shown["id"].astype(int).tolist(), format_func=titles.get,
                            key="runs_selected", placeholder="Choose runs to act on")  # fmt: skip


def select_all() -> None:
    st.session_state["runs_selected"] = shown["id"].astype(int).tolist()


right.button("Select all shown", on_click=select_all, key="runs_select_all", width="stretch")


def act(action, *args, ids=None, **kwargs) -> None:
    """Callback: run an action on the selection (or `ids`); its one-line outcome shows below the buttons."""
    ids = list(st.session_state.get("runs_selected", []) if ids is None else ids)
    st.session_state["runs_flash"] = action(ids, *args, **kwargs)
    st.session_state.pop("runs_confirm", None)
    if action is run_actions.delete:
        st.session_state["runs_selected"] = []


status = dict(zip(runs["id"].astype(int), runs["status"]))
picked = [status[i] for i in selected if i in status]
bar = st.container(horizontal=True)
bar.button("Cancel", icon=":material/cancel:", key="runs_cancel", on_click=act, args=(run_actions.cancel,),
           disabled=not any(s in statuses.ACTIVE or s == "interrupted" for s in picked))  # fmt: skip
bar.button("Rerun", icon=":material/replay:", key="runs_rerun", on_click=act, args=(run_actions.rerun,),
           disabled=not selected, help="Queue a new run with the same config")  # fmt: skip
bar.button("Resume", icon=":material/play_arrow:", key="runs_resume", on_click=act, args=(run_actions.resume,),
           disabled=not any(s in statuses.RESUMABLE for s in picked),
           help="Go on from the last checkpoint")  # fmt: skip
if bar.button("Delete…", icon=":material/delete:", key="runs_delete", disabled=not selected):
    st.session_state["runs_confirm"] = list(selected)
if bar.button("Compare", icon=":material/compare_arrows:", key="runs_compare", disabled=not selected):
    st.session_state["compare_runs"] = list(selected)
    st.switch_page("views/compare.py")
if selected:
    with bar:
        downloads.run_csv_buttons(sorted(selected), "runs-" + "-".join(map(str, sorted(selected))), "runs-csv")
if len(selected) == 1:
    bar.page_link("views/run.py", label=f"Open #{selected[0]}", icon=":material/monitoring:",
                  query_params={"run": selected[0]})  # fmt: skip

if doomed := st.session_state.get("runs_confirm"):
    with st.container(border=True):
        ids = ", ".join(f"#{i}" for i in doomed)
        st.warning(display.plain(f"Delete {len(doomed)} run(s) ({ids}) with their metrics and checkpoints? "
                                 "This cannot be undone."), icon=":material/warning:")  # fmt: skip
        yes, no = st.columns(2)
        yes.button("Delete for good", type="primary", key="runs_delete_yes", on_click=act, args=(run_actions.delete,),
                   kwargs={"ids": doomed})  # fmt: skip
        no.button("Keep them", key="runs_delete_no", on_click=lambda: st.session_state.pop("runs_confirm", None))

if flash := st.session_state.pop("runs_flash", None):
    ok, text = flash
    (st.success if ok else st.error)(display.plain(text), icon=":material/info:")

with st.expander("Rename, tag, note", expanded=bool(selected)):
    c1, c2 = st.columns([3, 1], vertical_alignment="bottom")
    c1.text_input("New name (one run)", key="runs_new_name", max_chars=200)
    c2.button("Rename", key="runs_rename", disabled=len(selected) != 1, width="stretch", on_click=lambda: act(
        run_actions.edit, ("Renamed", "rename"), name=st.session_state["runs_new_name"]))  # fmt: skip
    c1, c2, c3 = st.columns([2, 1, 1], vertical_alignment="bottom")
    c1.text_input("Tags (comma-separated)", key="runs_tags")
    words = lambda: st.session_state["runs_tags"].split(",")  # noqa: E731
    c2.button("Add tags", key="runs_add_tags", disabled=not selected, width="stretch",
              on_click=lambda: act(run_actions.retag, add=words()))  # fmt: skip
    c3.button("Remove tags", key="runs_remove_tags", disabled=not selected, width="stretch",
              on_click=lambda: act(run_actions.retag, remove=words()))  # fmt: skip
    c1, c2 = st.columns([3, 1], vertical_alignment="bottom")
    c1.text_area("Note", key="runs_note", height=68)
    c2.button(
        "Save note",
        key="runs_save_note",
        disabled=not selected,
        width="stretch",
        on_click=lambda: act(run_actions.edit, ("Noted", "note"), note=st.session_state["runs_note"]),
    )
