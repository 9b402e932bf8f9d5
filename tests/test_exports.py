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
        (" =1+1", "' =1+1"),  # spreadsheets trim what comes before the sign (OWASP)
        ("\n=1+1", "'\n=1+1"),
        ("\u00a0+cmd", "'\u00a0+cmd"),  # no-break space
        ("\u200b@SUM(A1)", "'\u200b@SUM(A1)"),  # zero-width space
        ("\ufeff-2", "'\ufeff-2"),  # byte-order mark
        (" \u3000\t\r\x01=x", "' \u3000\t\r\x01=x"),
        ("\uff1dSUM(A1)", "'\uff1dSUM(A1)"),  # full-width = + - @
        ("\uff0bcmd", "'\uff0bcmd"),
        ("\uff0d2", "'\uff0d2"),
        ("\uff20SUM(A1)", "'\uff20SUM(A1)"),
        ("  \uff1dx", "'  \uff1dx"),
        ("\r", "'\r"),
        ("plain", "plain"),
        (" plain", " plain"),
        ("\u00a0a=b", "\u00a0a=b"),
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
