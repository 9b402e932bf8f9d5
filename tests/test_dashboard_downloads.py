"""dashboard.downloads: CSV exports carry run names beside ids, round-trip numbers, and never start a formula."""

from __future__ import annotations

import io

import pandas as pd

from dashboard import downloads
from worker.exports import to_csv


def test_export_round_trip_and_formula_escaping():
    epochs = pd.DataFrame(
        dict(run_id=[1, 1, 2], epoch=[1, 2, 1], train_loss=[4.6, -0.5, 4.5], val_acc=[0.01, 0.02, 0.011])
    )
    names = {1: '#1 =HYPERLINK("http://x")', 2: "#2 VGG38"}
    frame = downloads.with_run_names(epochs, names)
    assert list(frame.columns) == ["run_id", "run", "epoch", "train_loss", "val_acc"]
    back = pd.read_csv(io.StringIO(to_csv(frame)))
    pd.testing.assert_frame_equal(back.drop(columns="run"), epochs)  # numbers unchanged, negatives included
    assert back["run"].tolist() == frame["run"].tolist()  # '#...' names are not formulas

    evil = downloads.with_run_names(epochs.iloc[:1], {1: "=cmd|' /C calc'!A0"})
    assert pd.read_csv(io.StringIO(to_csv(evil)))["run"].tolist() == ["'=cmd|' /C calc'!A0"]
    for prefix in "=+-@":
        text = to_csv(downloads.with_run_names(epochs.iloc[:1], {1: f"{prefix}x"}))
        assert f",'{prefix}x," in text
