"""Course-framework run folders written the way the framework writes them (csv.writer), for tests."""

from __future__ import annotations

import csv
from pathlib import Path

HEADER = ["train_acc", "train_loss", "val_acc", "val_loss"]


def row(epoch: int, segment: int = 0) -> list[float]:
    """A summary row that says which epoch and which run of the framework wrote it."""
    return [0.5, 1.0 + segment, round(epoch / 1000 + segment / 1e6, 9), 2.0]


def course_folder(path: Path, rows: list[list[float]], test: bool = True, line_end: str = "\r\n") -> Path:
    """The framework's files: csv.writer's line end (`\\r\\r\\n` when it wrote through Windows' text mode)."""
    path.mkdir(parents=True)
    with open(path / "summary.csv", "w", newline="") as f:
        csv.writer(f, lineterminator=line_end).writerows([HEADER, *rows])
    if test:
        with open(path / "test_summary.csv", "w", newline="") as f:
            csv.writer(f, lineterminator=line_end).writerows([["test_acc", "test_loss"], [0.45, 2.1]])
    return path
