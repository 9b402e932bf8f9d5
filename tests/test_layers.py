"""The three layers' imports point one way (dashboard -> worker -> vgp_models): read from the sources' syntax."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BELOW = {"vgp_models": ("worker", "dashboard"), "worker": ("dashboard",)}  # what a layer may never import


def imported_packages(path: Path) -> set[str]:
    """The top-level package of every import in `path`, at any depth (a function's local import included)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
    return found


@pytest.mark.parametrize("layer", sorted(BELOW))
def test_a_layer_imports_nothing_above_it(layer):
    wrong = {
        str(path.relative_to(ROOT)): sorted(imported_packages(path) & set(BELOW[layer]))
        for path in sorted((ROOT / layer).rglob("*.py"))
    }
    assert {path: names for path, names in wrong.items() if names} == {}
