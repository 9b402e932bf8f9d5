"""CSV exports that a spreadsheet opens safely.

A text cell starting with =, +, -, @ (or a tab / carriage return) is a formula to Excel, LibreOffice
and Google Sheets ("CSV injection", OWASP); such cells get a leading single quote. Spreadsheets trim
leading spaces, line feeds, no-break and zero-width spaces before they look, and some read the full-width
forms (＝ ＋ － ＠) as the ASCII ones, so a cell is judged after that trim and with those forms too.
Numbers stay numbers, negative ones included: only string cells (and header names) are touched.
"""

from __future__ import annotations

import re
from typing import Any

import pandas as pd

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r", "＝", "＋", "－", "＠", "﹦", "﹢", "﹣")
"""OWASP's list, then the full-width (＝ ＋ － ＠) and small (﹦ ﹢ ﹣) forms of the signs."""

LEADING_BLANKS = re.compile(r"^[\s\x00-\x1f\x7f-\x9f\u00a0\u180e\u200b-\u200f\u2028-\u202f\u205f-\u206f\u3000\ufeff]+")
"""What a spreadsheet may skip before a formula: whitespace, control characters, no-break, zero-width and
direction marks, the ideographic space and the byte-order mark."""


def escape_cell(value: Any) -> Any:
    """`value` with a leading quote when it is a string a spreadsheet would read as a formula."""
    if isinstance(value, str) and (
        value.startswith(FORMULA_PREFIXES) or LEADING_BLANKS.sub("", value).startswith(FORMULA_PREFIXES)
    ):
        return "'" + value
    return value


def escape_frame(df: pd.DataFrame) -> pd.DataFrame:
    """A copy of df whose text cells and column names are escaped; numeric columns are left as they are."""
    out = df.copy()
    for column in out.columns:
        if out[column].dtype == object or pd.api.types.is_string_dtype(out[column].dtype):
            out[column] = out[column].map(escape_cell)
    out.columns = [escape_cell(str(c)) for c in out.columns]
    return out


def to_csv(df: pd.DataFrame) -> str:
    """The frame as CSV text (no index), formula-like text cells escaped.

    Lines end in CRLF (RFC 4180), which also makes the writer quote a cell holding a bare carriage return;
    with pandas' default "\\n" such a cell went out unquoted and split its row in two.
    """
    return escape_frame(df).to_csv(index=False, lineterminator="\r\n")
