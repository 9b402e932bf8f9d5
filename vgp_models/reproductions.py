"""Independent 100-epoch reproductions of the report's Table 1: how many were found per row and the range of
their numbers, so that a row of one's own can be read against what other people got, not only the report.

Source: ../shared/reference/independent-runs.md (course-framework run folders in public repositories,
2019-2024: 100 epochs, batch 100, Adam, cosine to 2e-5, the coursework split, on GPUs; best val at the
best-validation epoch, test of that checkpoint; accuracies in %). A row with one run is a single observation.
Torch-free: the dashboard reads it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

Span = tuple[float, float]  # (min, max); equal for a single observation


@dataclass(frozen=True)
class Reproductions:
    """One Table 1 row's independent reproductions: how many runs, and the min-max of each number."""

    preset: str
    lr: float
    runs: int
    val_acc: Span
    val_loss: Span
    test_acc: Span
    test_loss: Span


REPRODUCTIONS: tuple[Reproductions, ...] = (
    Reproductions("vgg08", 1e-3, 7, (47.8, 49.1), (1.95, 1.99), (48.2, 50.0), (1.90, 1.98)),
    Reproductions("vgg38", 1e-3, 9, (1.0, 1.2), (4.61, 4.61), (1.0, 1.0), (4.61, 4.61)),
    Reproductions("vgg38-bn", 1e-3, 8, (40.9, 53.1), (1.76, 2.22), (42.4, 52.4), (1.84, 2.17)),
    Reproductions("vgg38-rc", 1e-3, 1, (52.7, 52.7), (2.09, 2.09), (53.2, 53.2), (2.09, 2.09)),
    Reproductions("vgg38-bn-rc", 1e-3, 1, (58.7, 58.7), (1.67, 1.67), (59.3, 59.3), (1.67, 1.67)),
    Reproductions("vgg38-bn", 1e-2, 1, (44.5, 44.5), (2.10, 2.10), (45.2, 45.2), (2.08, 2.08)),
    Reproductions("vgg38-bn-rc", 1e-2, 6, (60.6, 62.2), (1.54, 1.85), (58.8, 61.1), (1.57, 1.85)),
)


def reproductions(preset: str, lr: float) -> Reproductions | None:
    """The reproductions of Table 1's (preset, lr) row; None for a configuration nobody reproduced."""
    for row in REPRODUCTIONS:
        if row.preset == preset and math.isclose(row.lr, lr, rel_tol=1e-9):
            return row
    return None


def span_text(span: Span, decimals: int = 1) -> str:
    """'47.8–49.1', or '52.7' for a single observation."""
    lo, hi = span
    return f"{lo:.{decimals}f}" if lo == hi else f"{lo:.{decimals}f}–{hi:.{decimals}f}"
