"""CSV export: formula-like text cells are escaped, numbers are not."""

from __future__ import annotations

import io

import pandas as pd
import pytest

from worker.exports import escape_cell, to_csv


@pytest.mark.parametrize(
    "cell,expected",
    [
        ("=1+1", "'=1+1"),
        ("+cmd", "'+cmd"),
        ("-2", "'-2"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\t=x", "'\t=x"),
        ("plain", "plain"),
        ("a=b", "a=b"),
        ("", ""),
        (-1.5, -1.5),
        (None, None),
    ],
)
def test_escape_cell(cell, expected):
    assert escape_cell(cell) == expected


def test_to_csv_keeps_numbers_and_escapes_text():
    df = pd.DataFrame(
        {"run_id": [1, 2], "name": ['=HYPERLINK("x")', "ok"], "val_loss": [-0.5, 1.25], "-col": ["@a", "b"]}
    )
    text = to_csv(df)
    back = pd.read_csv(io.StringIO(text))
    assert list(back.columns) == ["run_id", "name", "val_loss", "'-col"]
    assert back["name"].tolist() == ['\'=HYPERLINK("x")', "ok"]
    assert back["val_loss"].tolist() == [-0.5, 1.25]
    assert back["'-col"].tolist() == ["'@a", "b"]
    assert "\n1,\"'=HYPERLINK" in text
    assert ",-0.5," in text
    assert df["name"].iloc[0].startswith("=")  # the input frame is not modified
