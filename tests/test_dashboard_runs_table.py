"""dashboard.runs_table: the Runs page's table (every column, the vanishing and amplified marks) and its filters."""

from __future__ import annotations

import pandas as pd

from dashboard import runs_table
from tests.dashboard_support import runs_frame


def test_filter_runs_by_status_group_and_tag():
    runs = runs_frame(
        [
            dict(preset="vgg08", group_name="a", tags=["x"]),
            dict(preset="vgg08", group_name="b", tags=["x", "y"], status="failed"),
            dict(preset="vgg08", group_name="a", tags=[]),
        ]
    )
    assert runs_table.filter_runs(runs)["id"].tolist() == [3, 2, 1]
    assert runs_table.filter_runs(runs, statuses=["failed"])["id"].tolist() == [2]
    assert runs_table.filter_runs(runs, groups=["a"])["id"].tolist() == [3, 1]
    assert runs_table.filter_runs(runs, tags=["y", "z"])["id"].tolist() == [2]
    assert runs_table.filter_runs(runs, groups=["a"], tags=["x"])["id"].tolist() == [1]


def test_runs_table_has_every_column_and_the_flag():
    runs = runs_frame([dict(preset="vgg08"), dict(preset="vgg38", status="running", epochs_done=1, epochs_total=4)])
    table = runs_table.runs_table(runs, {2: 90.0}, pd.Series({2: True, 1: False}), lambda s: f"{s:.0f} s")
    assert table["gradients"].tolist() == ["vanishing", ""]
    assert table["eta"].tolist() == ["90 s", ""]
    assert runs_table.runs_table(runs, {}, pd.Series(dtype=bool), str)["eta"].tolist() == ["after epoch 1", ""]
    assert table["progress"].tolist() == [0.25, 1.0]
    assert table["run"].tolist() == ["#2 VGG38 lr 1e-3", "#1 VGG08 lr 1e-3"] and table["lr"].tolist() == [1e-3] * 2
    assert table["best val acc"].tolist() == [10.0, 10.0]  # in %, as every page writes accuracies
    for column in ("group", "tags", "status", "params", "device", "worker"):
        assert column in table


def test_runs_table_says_when_the_latest_epoch_was_amplified():
    amp = dict(grad_amp_factor=2.0, grad_amp_epochs="first:2")
    done = (2, 3, 1)  # epochs 1 and 2 amplified
    runs = runs_frame([*(dict(preset="vgg38", config=amp, epochs_done=d) for d in done),
                       dict(preset="vgg38", epochs_done=2)])  # fmt: skip
    flags = pd.Series({1: True, 2: True, 3: False, 4: True})
    table = runs_table.runs_table(runs, {}, flags, str).set_index("id")
    assert table["gradients"].to_dict() == {1: "vanishing (amplified)", 2: "vanishing", 3: "amplified",
                                            4: "vanishing"}  # fmt: skip
    assert "GradAmp x2" in table.loc[1, "run"] and table.loc[4, "run"] == "#4 VGG38 lr 1e-3"
