"""Runs: every run in one table (status, progress, best val acc); a click opens its Run page."""

import pandas as pd
import streamlit as st

from dashboard import common

st.title("Runs")

with common.guard("Cannot read the runs: "):
    runs = common.load_runs()

if runs.empty:
    st.info("No runs yet.", icon=":material/info:")
    st.page_link("views/launch.py", label="Launch one", icon=":material/rocket_launch:")
    st.stop()


def table(runs: pd.DataFrame) -> pd.DataFrame:
    total = runs["epochs_total"].fillna(0).astype(int)
    done = runs["epochs_done"].fillna(0).astype(int)
    return pd.DataFrame(
        {
            "id": runs["id"],
            "name": runs["name"].fillna(""),
            "model": runs["label"],
            "status": runs["status"],
            "progress": (done / total.where(total > 0, 1)).clip(0, 1),
            "epochs": done.astype(str) + " / " + total.astype(str),
            "best val acc": runs["best_val_acc"],
            "created": runs["created_at"],
            "open": "run?run=" + runs["id"].astype(str),
        }
    )


COLUMNS = {
    "id": st.column_config.NumberColumn("Run", format="#%d", width="small"),
    "name": st.column_config.TextColumn("Name"),
    "model": st.column_config.TextColumn("Model"),
    "status": st.column_config.TextColumn("Status"),
    "epochs": st.column_config.TextColumn("Epochs"),
    "progress": st.column_config.ProgressColumn("Progress", min_value=0.0, max_value=1.0, format="percent"),
    "best val acc": st.column_config.NumberColumn("Best val acc", format="percent"),
    "created": st.column_config.DatetimeColumn("Created", format="YYYY-MM-DD HH:mm"),
    "open": st.column_config.LinkColumn("Link", display_text="Open"),
}

live = bool(runs["status"].isin(common.ACTIVE).any())


@st.fragment(run_every=3 if live else None)
def runs_table() -> None:
    with common.guard("Cannot read the runs: "):
        current = common.load_runs()
    st.caption("Select a row to open its run." + (" Refreshing while runs are active." if live else ""))
    event = st.dataframe(
        table(current),
        hide_index=True,
        column_config=COLUMNS,
        on_select="rerun",
        selection_mode="single-row",
        key="runs_table",
    )
    if event.selection.rows:
        run_id = int(current["id"].iloc[event.selection.rows[0]])
        st.switch_page("views/run.py", query_params={"run": run_id})
    if live and not current["status"].isin(common.ACTIVE).any():
        st.rerun()


runs_table()
