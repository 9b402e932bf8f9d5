"""Every text the dashboard hands to an element that renders Markdown is ours or passed through
`dashboard.display.plain`: a scan of dashboard/'s source (ast), so that a new page cannot forget it.

The rule, as the failure message states it for whoever adds a page: the text argument (first positional, or
body=/label=/help=) of st.markdown, caption, write, info, warning, error, success, toast, title, header,
subheader, expander and metric (called on st or on any column/container, by name) must be
  - a string literal or an UPPER_CASE constant (our code's text), or
  - plain(x) / display.plain(x), or display.md(TEMPLATE, **values) (our Markdown, each value made plain), or
  - an f-string whose every {placeholder} is plain(...) or has a numeric format spec ({n:d}, {x:.2f}, {r:.0%}),
    which only a number can fill,
  - or `+`, `a if c else b` of those.
A stored string (a run name, a failure reason, an exception's message) therefore cannot reach Markdown unescaped.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

DASHBOARD = Path(__file__).resolve().parents[1] / "dashboard"
MARKDOWN_ELEMENTS = frozenset(
    "markdown caption write info warning error success toast title header subheader expander metric".split()
)
TEXT_KEYWORDS = ("body", "label", "help")
NUMERIC_SPEC = re.compile(r"[^{}]*[bcdeEfFgGnoxX%]")  # ends in a type only numbers accept
RULE = (
    "text shown by st.markdown/caption/write/info/warning/error/success/toast/title/header/subheader/expander/"
    "metric (first argument, body=, label=, help=) must be a string literal or UPPER_CASE constant, "
    "display.plain(x), display.md(TEMPLATE, **values), or an f-string whose every {placeholder} is plain(...) "
    "or has a numeric format spec ({n:d}, {x:.2f}); wrap anything else in dashboard.display.plain(...)"
)


def called(node: ast.AST, name: str) -> bool:
    """Whether `node` calls `name` or `<anything>.name`."""
    func = node.func if isinstance(node, ast.Call) else None
    return (isinstance(func, ast.Name) and func.id == name) or (isinstance(func, ast.Attribute) and func.attr == name)


def is_plain_call(node: ast.AST) -> bool:
    return called(node, "plain")


def is_constant(node: ast.AST) -> bool:
    name = node.id if isinstance(node, ast.Name) else node.attr if isinstance(node, ast.Attribute) else ""
    return bool(re.fullmatch(r"[A-Z][A-Z0-9_]*", name))


def is_ours(node: ast.AST) -> bool:
    """Whether `node` can only evaluate to text of our code's, or to text made plain."""
    if isinstance(node, ast.Constant):
        return isinstance(node.value, str)
    if is_plain_call(node) or is_constant(node):
        return True
    if called(node, "md"):  # display.md(TEMPLATE, **values): the template ours, the values made plain
        return bool(node.args) and is_ours(node.args[0])
    if isinstance(node, ast.JoinedStr):
        return all(isinstance(part, ast.Constant) or placeholder_ok(part) for part in node.values)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        return is_ours(node.left) and is_ours(node.right)
    if isinstance(node, ast.IfExp):
        return is_ours(node.body) and is_ours(node.orelse)
    return False


def placeholder_ok(part: ast.AST) -> bool:
    assert isinstance(part, ast.FormattedValue)
    if is_plain_call(part.value):
        return True
    spec = part.format_spec
    if spec is None or part.conversion != -1:  # {x!r} formats a string, whatever the spec
        return False
    if not all(isinstance(p, ast.Constant) for p in spec.values):
        return False
    return bool(NUMERIC_SPEC.fullmatch("".join(str(p.value) for p in spec.values)))


def element_names(func: ast.AST) -> list[str]:
    """The Markdown elements a call's function may be: st.caption, col.error, (st.success if ok else st.error)."""
    if isinstance(func, ast.IfExp):
        return element_names(func.body) + element_names(func.orelse)
    if isinstance(func, ast.Attribute) and func.attr in MARKDOWN_ELEMENTS:
        receiver = ast.unparse(func.value)
        if re.search(r"(?i)log", receiver):  # logging's .error/.warning/.info write to the log, not the page
            return []
        return [f"{receiver}.{func.attr}"]
    return []


def violations(source: str, filename: str) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(source, filename)):
        if not isinstance(node, ast.Call) or not element_names(node.func):
            continue
        texts = node.args[:1] + [k.value for k in node.keywords if k.arg in TEXT_KEYWORDS]
        for text in texts:
            if not is_ours(text):
                found.append(f"{filename}:{text.lineno}: {ast.unparse(node)[:160]}")
    return found


def test_no_page_hands_markdown_a_string_that_is_not_ours() -> None:
    found = [v for path in sorted(DASHBOARD.rglob("*.py")) for v in violations(path.read_text(), str(path))]
    assert not found, RULE + ":\n" + "\n".join(found)


@pytest.mark.parametrize(
    ("code", "bad"),
    [
        ('st.caption(row["reason"])', True),  # the sweep page's failure reason (issue 17.8)
        ("st.caption(reason)", True),
        ('st.error(f"failed: {reason}")', True),
        ('st.error(f"failed: {reason!r:.5}")', True),
        ("col.warning(text, icon=':material/warning:')", True),
        ("(st.success if ok else st.error)(text)", True),
        ('st.metric("Device", x, help=f"Worker: {name}")', True),
        ('st.markdown("**" + name + "**")', True),
        ('st.caption(f"Skipped: {note:s}")', True),
        ("st.warning(md(template, name=name))", True),
        ('st.error(plain(prefix) + hint, icon="x")', True),
        ('st.caption("Skipped.")', False),
        ("st.caption(display.plain(reason))", False),
        ('st.error(f"failed: {plain(reason)} after {n:d} epochs, {share:.0%}")', False),
        ('st.markdown(f"**{display.plain(name)}**" if bold else "none")', False),
        ('st.metric("Device", device, help="Where it ran")', False),
        ("st.warning(display.md(vanishing.WARNING, name=name, ratio=ratio))", False),
        ('st.error(plain(prefix) + (db.MIGRATE_HINT if hinted else ""))', False),
        ('log.error("run %s failed: %s", run_id, reason)', False),
        ("st.text(reason)", False),  # st.text shows text as typed
    ],
)
def test_the_scan_tells_ours_from_stored(code: str, bad: bool) -> None:
    assert bool(violations(code, "page.py")) is bad
