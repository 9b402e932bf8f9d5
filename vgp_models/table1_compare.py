"""Table 1's measured numbers beside the report's (torch-free): a row's numbers at its best-validation epoch, the
report's for the same row and the difference. `python -m vgp_models table1` (from run folders, `table1.py`) and
the Results page (from the database, dashboard/table1.py) build their rows with it."""

from __future__ import annotations

import math
from collections.abc import Mapping

from vgp_models.config import Table1Row

COMPARED = ("train_loss", "train_acc_pct", "val_loss", "val_acc_pct")
"""The numbers the report printed for each row (accuracies in %): each has a report_<number> and a diff_<number>."""


def _number(value: float | None) -> float:
    return math.nan if value is None else float(value)


def measured_numbers(best: Mapping[str, float | None], test_loss: float | None, test_acc: float | None) -> dict:
    """COMPARED from the best-validation epoch (`best`: its train_loss, train_acc, val_loss, val_acc, accuracies as
    fractions) and test_loss, test_acc_pct from the test of the best checkpoint; NaN where a number is missing."""
    return {
        "train_loss": _number(best.get("train_loss")),
        "train_acc_pct": 100 * _number(best.get("train_acc")),
        "val_loss": _number(best.get("val_loss")),
        "val_acc_pct": 100 * _number(best.get("val_acc")),
        "test_loss": _number(test_loss),
        "test_acc_pct": 100 * _number(test_acc),
    }


def beside_report(measured: Mapping[str, float], row: Table1Row) -> dict[str, float]:
    """report_<k> (the report's number) and diff_<k> (measured - report) for each k of COMPARED."""
    report = {"train_loss": row.train_loss, "train_acc_pct": row.train_acc, "val_loss": row.val_loss,
              "val_acc_pct": row.val_acc}  # fmt: skip
    return {**{f"report_{k}": report[k] for k in COMPARED}, **{f"diff_{k}": measured[k] - report[k] for k in COMPARED}}
