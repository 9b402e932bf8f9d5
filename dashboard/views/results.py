"""Results: the report's Table 1 rebuilt from the database (per row, the run that best stands for it, or the one
the user picks), beside the report's numbers, the difference and the independent reproductions' ranges, then
the same rows over seeds (mean, sd, N, seed noise); CSV exports. Live while a run is queued or running."""

import streamlit as st

from dashboard import charts, display, downloads, errors, reads, seeds, statuses, table1
from vgp_models.config import TABLE1

st.title("Results: Table 1")
st.caption(
    "Each row: a run with that architecture (width 32, no reduction-block shortcut, none of the other cures: VGG, "
    "default init, leaky ReLU, Adam, no gradient amplification) and learning rate, at its best-validation epoch; "
    "test = the best-val checkpoint on the 10,000 test images. Accuracies in %; Δ = ours − report. The report "
    "printed VGG38's accuracy as 0.01 (it sat at chance, ~1%). Independent: the range of 100-epoch reproductions "
    "found in public course repositories (their number in brackets), so that a short or small run is read "
    "against what such runs reach."
)
st.caption(table1.CHOICE_RULE)

with errors.guard("Cannot read the runs: "):
    all_runs = reads.load_runs()
live = bool(all_runs["status"].isin(statuses.ACTIVE).any())

NUM = st.column_config.NumberColumn
COLUMNS = {
    "model": st.column_config.TextColumn("Model"),
    "lr": NUM("LR", format="%.0e"),
    "run_id": NUM("Run", format="#%d", help="The run this row shows (named on the Runs tab); choose another below"),
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
    "run": st.column_config.TextColumn("Run", help="The run this row shows; choose another below the table"),
    "subset": st.column_config.TextColumn("Subset", help="Training images per epoch: full = 47,500"),
    "precision": st.column_config.TextColumn("Precision", help="fp32, or bf16 autocast (AMP)"),
    "indep_runs": st.column_config.TextColumn("Independent runs", help="100-epoch reproductions found"),
    "indep_val_acc_pct": st.column_config.TextColumn("Independent val acc", help="Min–max of those runs"),
    "indep_val_loss": st.column_config.TextColumn("Independent val loss", help="Min–max of those runs"),
    "indep_test_acc_pct": st.column_config.TextColumn("Independent test acc", help="Min–max of those runs"),
}
for number in table1.COMPARED:  # the report's value and ours minus it, labelled after ours ('Report val acc')
    words = COLUMNS[number]["label"].lower()
    COLUMNS[f"report_{number}"] = NUM(f"Report {words}", format="%.2f")
    COLUMNS[f"diff_{number}"] = NUM(f"Δ {words}", format="%+.2f")


# Narrow tables instead of one wide one, each fitting the page: ours beside the report's, the independent
# reproductions' range and the difference, metric by metric, the first saying how long, on how much data and at
# what precision each row's run trained; then the runs behind the rows. The CSV keeps every column.
GROUPS = {
    "Accuracy (%)": ["run_id", "epochs_run", "subset", "precision", "val_acc_pct", "report_val_acc_pct",
                     "indep_val_acc_pct", "diff_val_acc_pct", "test_acc_pct", "indep_test_acc_pct"],
    "Train": ["train_acc_pct", "report_train_acc_pct", "diff_train_acc_pct", "train_loss", "report_train_loss",
              "diff_train_loss"],
    "Loss": ["val_loss", "report_val_loss", "indep_val_loss", "diff_val_loss", "test_loss"],
    "Runs": ["run", "params", "report_params", "best_epoch", "epochs_run", "wall_s", "indep_runs"],
}  # fmt: skip


def pickers() -> None:
    """A run picker per row, best first by the rule; a choice holds for the session (Results, and Compare's
    default pair) while the picked run is a candidate."""
    candidates = table1.table1_candidates(all_runs)
    titles = dict(zip(all_runs["id"].astype(int), all_runs["title"]))
    picks = st.session_state.setdefault(table1.PICKS, {})

    def pick(i: int) -> None:
        picks[i] = st.session_state[f"results_pick_{i}"]

    with st.expander("Choose the run of each row", icon=":material/tune:"):
        for i, ids in candidates.items():
            st.selectbox(table1.table1_name(TABLE1[i].model, TABLE1[i].lr), ids, format_func=titles.get,
                         index=ids.index(picks[i]) if picks.get(i) in ids else 0, key=f"results_pick_{i}",
                         on_change=pick, args=(i,))  # fmt: skip
        if not candidates:
            st.caption("No run of a Table 1 row yet.")


def results() -> None:
    picks = dict(st.session_state.get(table1.PICKS, {}))
    with errors.guard("Cannot read the runs: "):
        table = reads.load_table1(picks)
    missing = table.loc[table["run_id"].isna(), ["model", "lr"]]
    by_rule = table1.table1_runs(all_runs)
    yours = [f"{table1.table1_name(TABLE1[i].model, TABLE1[i].lr)}: {run}" for i, (run_id, run)
             in enumerate(zip(table["run_id"], table["run"])) if picks.get(i) == run_id != by_rule.get(i)]  # fmt: skip
    if yours:  # say which rows do not follow the rule
        st.caption(display.plain("Your choice, not the rule's: " + "; ".join(yours) + "."))
    for tab, (name, columns) in zip(st.tabs(list(GROUPS)), GROUPS.items()):
        tab.dataframe(table, hide_index=True, column_config=COLUMNS, column_order=["model", "lr", *columns],
                      placeholder="–", key=f"results_table_{name.split()[0].lower()}", width="stretch")  # fmt: skip
    if len(missing):
        rows = ", ".join(table1.table1_name(m, lr) for m, lr in missing.itertuples(index=False))
        st.info(f"No completed run yet for {len(missing):d} of 7 rows: {display.plain(rows)}.", icon=":material/info:")
        st.page_link("views/launch.py", label="Reproduce Table 1 on Launch", icon=":material/rocket_launch:")
    downloads.csv_button("Results CSV", lambda: reads.load_table1(picks), "table1-results.csv",
                         key="results_csv")  # fmt: skip
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


def over_seeds() -> None:
    with errors.guard("Cannot read the runs: "):
        rows, agg = reads.load_table1_seeds()
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


def runs_version() -> tuple:
    with errors.guard("Cannot read the runs: "):
        return reads.versions(reads.load_runs())


pickers()
results()
over_seeds()
if live:  # the tables and the chart move as runs record epochs and finish: redrawn then, not every second
    statuses.rerun_when_changed(runs_version, reads.versions(all_runs))
