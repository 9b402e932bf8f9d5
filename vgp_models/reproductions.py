"""Independent 100-epoch reproductions of the report's Table 1: the range of each row over public run folders.

The numbers are copied from ../shared/reference/independent-runs.md (run folders the course framework wrote,
found in public repositories, 2019-2024: 100 epochs, batch 100, Adam, cosine to 2e-5, the coursework split,
on GPUs). The product cannot read that file at run time, so they live here. Accuracies in %, at the
best-validation epoch (the report's convention); a row with one run is a single observation, not a range.
"""

from __future__ import annotations

from dataclasses import dataclass

Span = tuple[float, float]  # (min, max); min == max for a single run


@dataclass(frozen=True)
class Reproduction:
    """One Table 1 row over independent runs: how many, and each number's min and max."""

    model: str  # Table1Row.model
    lr: float
    runs: int
    val_acc: Span  # best val acc, %
    val_loss: Span  # val loss at that epoch
    test_acc: Span
    test_loss: Span


REPRODUCTIONS: tuple[Reproduction, ...] = (
    Reproduction("VGG08", 1e-3, 7, (47.8, 49.1), (1.95, 1.99), (48.2, 50.0), (1.90, 1.98)),
    Reproduction("VGG38", 1e-3, 9, (1.0, 1.2), (4.61, 4.61), (1.0, 1.0), (4.61, 4.61)),
    Reproduction("VGG38 BN", 1e-3, 8, (40.9, 53.1), (1.76, 2.22), (42.4, 52.4), (1.84, 2.17)),
    Reproduction("VGG38 RC", 1e-3, 1, (52.7, 52.7), (2.09, 2.09), (53.2, 53.2), (2.09, 2.09)),
    Reproduction("VGG38 BN+RC", 1e-3, 1, (58.7, 58.7), (1.67, 1.67), (59.3, 59.3), (1.67, 1.67)),
    Reproduction("VGG38 BN", 1e-2, 1, (44.5, 44.5), (2.10, 2.10), (45.2, 45.2), (2.08, 2.08)),
    Reproduction("VGG38 BN+RC", 1e-2, 6, (60.6, 62.2), (1.54, 1.85), (58.8, 61.1), (1.57, 1.85)),
)

NOTE = (
    "Independent reproductions: the range over public 100-epoch runs of each row (course framework, GPUs; "
    "../shared/reference/independent-runs.md). VGG38 BN's range is wide because students placed BN "
    "differently; a row with one run is a single observation."
)


def reproduction(model: str, lr: float) -> Reproduction | None:
    """The reproductions of Table 1's row `model` at `lr`, or None for a row nobody reproduced."""
    return next((r for r in REPRODUCTIONS if r.model == model and abs(r.lr - lr) <= 1e-12), None)


def span_text(span: Span, runs: int) -> str:
    """'47.8–49.1 (7 runs)', or '52.7 (1 run)' for a single observation."""
    low, high = span
    values = f"{low:g}" if low == high else f"{low:g}–{high:g}"
    return f"{values} ({runs} run{'s' if runs != 1 else ''})"
