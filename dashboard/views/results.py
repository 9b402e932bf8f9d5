"""Results: the report's Table 1 rebuilt from the database (the latest completed run of each row), beside the
report's numbers and the difference; CSV export. Live while a run is queued or running."""

import streamlit as st

from dashboard import charts, common, downloads

st.title("Results: Table 1")
st.caption(
    "Each row: the latest completed run with that architecture (width 32, no reduction-block shortcut) and "
    "learning rate, at its best-validation epoch; test = the best-val checkpoint on the 10,000 test images. "
    "Accuracies in %; Δ = ours − report. The report printed VGG38's accuracy as 0.01 (it sat at chance, ~1%)."
)

with common.guard("Cannot read the runs: "):
    live = bool(common.load_runs()["status"].isin(common.ACTIVE).any())

NUM = st.column_config.NumberColumn
COLUMNS = {
    "model": st.column_config.TextColumn("Model"),
    "lr": NUM("LR", format="%.0e"),
    "run_id": NUM("Run", format="#%d"),
    "params": NUM("Params", format="localized"),
    "train_loss": NUM("Train loss", format="%.2f"),
    "train_acc_pct": NUM("Train acc", format="%.2f"),
    "val_loss": NUM("Val loss", format="%.2f"),
    "val_acc_pct": NUM("Val acc", format="%.2f"),
    "test_loss": NUM("Test loss", format="%.2f"),
    "test_acc_pct": NUM("Test acc", format="%.2f"),
    "best_epoch": NUM("Best epoch"),
    "epochs_run": NUM("Epochs run"),
    "wall_s": NUM("Wall time (s)", format="%.1f", help="The sum of the run's epoch times"),
    "report_params": st.column_config.TextColumn("Report params"),
    "report_train_loss": NUM("Report train loss", format="%.2f"),
    "report_train_acc_pct": NUM("Report train acc", format="%.2f"),
    "report_val_loss": NUM("Report val loss", format="%.2f"),
    "report_val_acc_pct": NUM("Report val acc", format="%.2f"),
    "diff_train_loss": NUM("Δ train loss", format="%+.2f"),
    "diff_train_acc_pct": NUM("Δ train acc", format="%+.2f"),
    "diff_val_loss": NUM("Δ val loss", format="%+.2f"),
    "diff_val_acc_pct": NUM("Δ val acc", format="%+.2f"),
}


# Three narrow tables instead of one wide one, each fitting the page: ours beside the report's and the
# difference, metric by metric; then the runs behind the rows. The CSV keeps every column.
GROUPS = {
    "Accuracy (%)": ["val_acc_pct", "report_val_acc_pct", "diff_val_acc_pct", "train_acc_pct",
                     "report_train_acc_pct", "diff_train_acc_pct", "test_acc_pct"],
    "Loss": ["val_loss", "report_val_loss", "diff_val_loss", "train_loss", "report_train_loss", "diff_train_loss",
             "test_loss"],
    "Runs": ["run_id", "params", "report_params", "best_epoch", "epochs_run", "wall_s"],
}  # fmt: skip


@st.fragment(run_every=common.LIVE_S if live else None)
def results() -> None:
    with common.guard("Cannot read the runs: "):
        table = downloads.table1_results()
    missing = table.loc[table["run_id"].isna(), ["model", "lr"]]
    for tab, (name, columns) in zip(st.tabs(list(GROUPS)), GROUPS.items()):
        tab.dataframe(table, hide_index=True, column_config=COLUMNS, column_order=["model", "lr", *columns],
                      placeholder="–", key=f"results_table_{name.split()[0].lower()}")  # fmt: skip
    if len(missing):
        rows = ", ".join(f"{m} lr {lr:.0e}".replace("e-0", "e-") for m, lr in missing.itertuples(index=False))
        st.info(f"No completed run yet for {len(missing)} of 7 rows: {rows}.", icon=":material/info:")
        st.page_link("views/launch.py", label="Reproduce Table 1 on Launch", icon=":material/rocket_launch:")
    downloads.csv_button("Results CSV", downloads.table1_results, "table1-results.csv", key="results_csv")
    if table["run_id"].notna().any():
        downloads.chart_with_buttons(charts.results_chart(table), "table1-val-acc", "results-chart")


results()
