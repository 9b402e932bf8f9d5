"""How values are written on a page: user text made safe for Markdown, durations and percentages.

Every text a page hands to an element that renders Markdown (st.markdown, caption, write, info, warning, error,
success, toast, title, header, subheader, expander, metric; their help=) is a literal or constant of ours,
`plain(x)`, `md(TEMPLATE, **values)`, or an f-string whose placeholders are plain(...) or numeric ({n:d}, {x:.2f}).
tests/test_dashboard_markdown_scan.py checks the whole of dashboard/ for it.
"""

from __future__ import annotations

import numbers
import re

import pandas as pd

from vgp_models.durations import fmt_duration  # noqa: F401 - the pages' duration format is the CLI's

MARKDOWN_SPECIALS = re.compile(r"([!-/:-@\[-`{-~])")  # every ASCII punctuation mark; CommonMark escapes each
AUTOLINK_STARTS = re.compile(r"(?i)(?=https?:|www\.|@)")
WORD_JOINER = "\u2060"  # invisible, and neither a space nor punctuation: no autolink may start right after it


def plain(text: object) -> str:
    """`text` for a Streamlit element that renders Markdown (headers, captions, alerts, help), shown as typed.

    Run names, tags, notes, group names, query parameters and error messages come from users: unescaped,
    `![](https://x/pixel)` would load a remote image, `[t](https://evil)` make a link, `:red[...]` or `$...$`
    restyle the page. A backslash before every ASCII punctuation mark leaves nothing for Markdown to parse.
    Streamlit also turns bare `https://...`, `www....` and e-mail addresses into links after parsing, in the
    text itself, so an invisible word joiner goes before each of those.
    """
    return MARKDOWN_SPECIALS.sub(r"\\\1", AUTOLINK_STARTS.sub(WORD_JOINER, str(text)))


def md(template: str, **values: object) -> str:
    """Our Markdown `template` (a literal or a constant) with `values` filled in, each made `plain` first; numbers
    go in as numbers, so `{ratio:.1e}` works. The one way to put a stored string inside Markdown of ours."""
    return template.format(**{k: v if isinstance(v, numbers.Number) else plain(v) for k, v in values.items()})


ACC_FORMAT = "%.2f%%"
"""Every accuracy on a page: a percentage with two decimals ('2.00%' beside '23.68%'), in tables (a column of
values already in %) as pct writes a fraction."""


def pct(value: float | None) -> str:
    """A fraction as ACC_FORMAT writes it; '–' when unknown."""
    return "–" if value is None or pd.isna(value) else ACC_FORMAT % (100 * value)
