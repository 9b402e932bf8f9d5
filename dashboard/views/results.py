"""Results: the report's Table 1 rebuilt from the database (the latest completed run of each row), beside the
report's numbers and the difference, then the same rows over seeds (mean, sd, N, seed noise); CSV exports.
Live while a run is queued or running."""

import streamlit as st

from dashboard import charts, downloads, errors, reads, seeds, statuses, table1
from vgp_models import reproductions

st.title("Results: Table 1")
st.caption(
    "Each row: the latest completed run with that architecture (width 32, no reduction-block shortcut, none of "
    "the other cures: VGG, default init, leaky ReLU, Adam, no gradient amplification) and learning rate, at its "
    "best-validation epoch; test = the best-val checkpoint on the 10,000 test images. "
    "Accuracies in %; Δ = ours − report. The report printed VGG38's accuracy as 0.01 (it sat at chance, ~1%). "
    + reproductions.NOTE
)

with errors.guard("Cannot read the runs: "):
    live = bool(reads.load_runs()["status"].isin(statuses.ACTIVE).any())

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
    "repro_val_acc": st.column_config.TextColumn("Independent val acc", help=reproductions.NOTE),
}
for number in table1.COMPARED:  # the report's value and ours minus it, labelled after ours ('Report val acc')
    words = COLUMNS[number]["label"].lower()
    COLUMNS[f"report_{number}"] = NUM(f"Report {words}", format="%.2f")
    COLUMNS[f"diff_{number}"] = NUM(f"Δ {words}", format="%+.2f")


# Three narrow tables instead of one wide one, each fitting the page: ours beside the report's and the
# difference, metric by metric; then the runs behind the rows. The CSV keeps every column.
GROUPS = {
    "Accuracy (%)": ["val_acc_pct", "report_val_acc_pct", "diff_val_acc_pct", "repro_val_acc", "train_acc_pct",
                     "report_train_acc_pct", "diff_train_acc_pct", "test_acc_pct"],
    "Loss": ["val_loss", "report_val_loss", "diff_val_loss", "train_loss", "report_train_loss", "diff_train_loss",
             "test_loss"],
    "Runs": ["run_id", "params", "report_params", "best_epoch", "epochs_run", "wall_s"],
}  # fmt: skip


def with_reproductions(table):
    """Each row's best val acc over independent 100-epoch reproductions (vgp_models.reproductions), as text."""
    found = [reproductions.reproduction(m, lr) for m, lr in zip(table["model"], table["lr"])]
    return table.assign(repro_val_acc=[r and reproductions.span_text(r.val_acc, r.runs) for r in found])


@st.fragment(run_every=statuses.LIVE_S if live else None)
def results() -> None:
    with errors.guard("Cannot read the runs: "):
        table = with_reproductions(downloads.table1_results())
    missing = table.loc[table["run_id"].isna(), ["model", "lr"]]
    for tab, (name, columns) in zip(st.tabs(list(GROUPS)), GROUPS.items()):
        tab.dataframe(table, hide_index=True, column_config=COLUMNS, column_order=["model", "lr", *columns],
                      placeholder="–", key=f"results_table_{name.split()[0].lower()}")  # fmt: skip
    if len(missing):
        rows = ", ".join(table1.table1_name(m, lr) for m, lr in missing.itertuples(index=False))
        st.info(f"No completed run yet for {len(missing)} of 7 rows: {rows}.", icon=":material/info:")
        st.page_link("views/launch.py", label="Reproduce Table 1 on Launch", icon=":material/rocket_launch:")
    downloads.csv_button("Results CSV", downloads.table1_results, "table1-results.csv", key="results_csv")
    if table["run_id"].notna().any():
        downloads.chart_with_buttons(charts.results_chart(table), "table1-val-acc", "results-chart")


def seeds_columns(numbers: tuple[str, ...]) -> dict:
    """Column settings for the over-seeds table: each number's mean as Table 1 shows it, its sd beside it."""
    noise = "Is this row's difference in mean val acc from the reference larger than the sum of their sds?"
    out = {"n": NUM("N", help="Completed runs of this config (seeds)"), "seeds": st.column_config.TextColumn("Seeds"),
           "seed_noise": st.column_config.TextColumn("Seed noise", help=noise)}  # fmt: skip
    for number in numbers:
        shown = COLUMNS[number]
        out[number] = NUM(f"{shown['label']} mean", format=shown["type_config"].get("format"))
        out[f"{number}_sd"] = NUM(f"{shown['label']} sd", format="%.2f")
    return out


@st.fragment(run_every=statuses.LIVE_S if live else None)
def over_seeds() -> None:
    with errors.guard("Cannot read the runs: "):
        rows, agg = downloads.table1_seeds()
    if not (agg["n"] > 1).any():  # nothing repeated over seeds yet
        return
    st.subheader("Over seeds", anchor=False)
    st.caption(
        "Each row: every completed run that shares the config of the row above except the seed. Mean and "
        "sample sd of each number; a number's own N (in the CSV) is below N where a run lacks it."
    )
    rows_text = [table1.table1_name(m, lr) for m, lr in zip(agg["model"], agg["lr"])]
    default = rows_text.index("VGG38 BN+RC lr 1e-3") if "VGG38 BN+RC lr 1e-3" in rows_text else 0
    reference = st.selectbox("Seed noise against", range(len(agg)), index=default, format_func=rows_text.__getitem__,
                             key="results_seed_reference")  # fmt: skip
    shown = agg.assign(seed_noise=seeds.seed_noise(agg, reference))
    numbers = tuple(n for n in seeds.SEED_NUMBERS if n in COLUMNS)
    order = ["model", "lr", "n", "seeds", "seed_noise", *(c for n in numbers for c in (n, f"{n}_sd"))]
    st.dataframe(shown, hide_index=True, column_config={**COLUMNS, **seeds_columns(numbers)}, column_order=order,
                 placeholder="–", key="results_seeds_table")  # fmt: skip
    downloads.csv_button("Seeds CSV (per seed and aggregate)", lambda: downloads.seeds_csv(rows, ["model", "lr"]),
                         "table1-seeds.csv", key="results_seeds_csv")  # fmt: skip


results()
over_seeds()
