"""The course framework's own run folders: summary.csv (train_acc, train_loss, val_acc, val_loss; one row an
epoch, no epoch column) and test_summary.csv (test_acc, test_loss), as real folders hold them.

What the files cannot say comes from CourseOptions: the preset and learning rate; the epochs the run was
given; where it was continued (`--continue_from_epoch K` appends a row for every epoch from K to the last
after the rows already there, so a continued 100-epoch run holds 125, 150 or 165 rows); and whether its cosine
schedule stepped per iteration (the 2023-25 framework). A folder whose rows cannot be the epochs it claims
is refused with one line that says what to pass: a curve never misstates its epochs. A folder without
test_summary.csv stopped before its test (crashed or stopped by hand): it imports as interrupted.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vgp_models.config import PRESETS, SCHEDULES
from vgp_models.folder_files import RunFolderError

FRAMEWORK_EPOCHS = 100
"""The framework's default --num_epochs: a folder of at most this many rows claims no other count unasked."""


@dataclass(frozen=True)
class CourseOptions:
    """What a course-framework folder ran (`python -m worker import --preset --lr --epochs --continued-from
    --schedule`, or the Runs page's upload form)."""

    preset: str | None = None
    lr: float | None = None
    epochs: int | None = None  # the epochs the run was given; None: its rows (a finished run of at most 100)
    continued_from: tuple[int, ...] = ()  # each --continue_from_epoch K it was run again with, in order
    schedule: str = "epoch"  # "iteration": the 2023-25 framework's per-iteration cosine

    def __post_init__(self) -> None:
        if self.schedule not in SCHEDULES:
            raise ValueError(f"schedule must be one of {', '.join(SCHEDULES)}, got {self.schedule!r}")
        if self.continued_from and self.epochs is None:
            raise ValueError("--continued-from needs --epochs, the epochs the run was given")
        for k in self.continued_from:
            if not 1 <= k <= (self.epochs or 0):
                raise ValueError(f"--continued-from {k} is not an epoch of the run's {self.epochs}")


def true_epochs(path: Path, rows: list[dict[str, Any]], options: CourseOptions, tested: bool
                ) -> tuple[list[dict[str, Any]], int]:  # fmt: skip
    """summary.csv's rows as (epochs 1..k with their numbers, the epochs the run was given).

    Continued: the rows are the first run's (epochs 1..S, S unknown), then each continuation's (K..the last
    epoch); the last row written for an epoch is its number. `path` names summary.csv in refusals.
    """
    n = len(rows)
    total = options.epochs
    if options.continued_from:
        assert total is not None  # CourseOptions checked it
        appended = sum(total - k + 1 for k in options.continued_from)
        first = n - appended  # rows of the run before the first continuation
        if not options.continued_from[0] - 1 <= first <= total:
            low, high = options.continued_from[0] - 1 + appended, total + appended
            ks = ",".join(map(str, options.continued_from))
            raise RunFolderError(
                f"{path}: {n} rows cannot be {total} epochs continued from {ks} ({low} to {high} rows would); "
                "pass the --epochs and every --continued-from K the run was given"
            )
        order = [*range(1, first + 1), *(e for k in options.continued_from for e in range(k, total + 1))]
        last = dict(zip(order, rows))  # a later row of an epoch replaces the earlier one
        return [{**last[e], "epoch": e} for e in range(1, total + 1)], total
    if total is None:
        if n > FRAMEWORK_EPOCHS:
            raise RunFolderError(
                f"{path}: {n} rows, more than the framework's {FRAMEWORK_EPOCHS} epochs: pass --epochs N (the "
                "run's --num_epochs) and, if it was continued, --continued-from K (its --continue_from_epoch)"
            )
        total = n if tested else FRAMEWORK_EPOCHS
    if n > total:
        raise RunFolderError(
            f"{path}: {n} rows, more than its {total} epochs: a continued run? pass --continued-from K "
            "(each --continue_from_epoch it was given)"
        )
    if tested and n < total:
        raise RunFolderError(
            f"{path}: {n} rows of {total} epochs, yet test_summary.csv: the framework tests after the last "
            "epoch; pass the --epochs the run was given"
        )
    return [{**row, "epoch": e} for e, row in enumerate(rows, start=1)], total


MIN_LR = 1e-6  # the smallest learning rate a folder's name is taken to say (the upload form's floor)
_DEPTH = re.compile(r"vgg[\W_]*(\d+)", re.IGNORECASE)
_LR = re.compile(r"(?:^|[\W_])lr[\W_]*(\d*p\d+|\d+(?:\.\d+)?(?:e-?\d+)?)(?![\d.])", re.IGNORECASE)


def suggest(name: str) -> tuple[str | None, float | None]:
    """The preset and learning rate a folder's name says, where it says them: 'VGG_38_BN_RC_experiment' ->
    ('vgg38-bn-rc', None), 'vgg08_lr_1e-2' -> ('vgg08', 0.01). None for what it does not say."""
    preset = None
    if depth := _DEPTH.search(name):
        words = {w.lower() for w in re.split(r"[\W_]+", name)}
        cures = [c for c in ("bn", "rc") if c in words]
        preset = "-".join([f"vgg{int(depth.group(1)):02d}", *cures])
        preset = preset if preset in PRESETS else None
    lr = None
    if found := _LR.search(name):
        try:
            lr = float(found.group(1).lower().replace("p", "."))
        except ValueError:
            lr = None
    return preset, lr if lr is not None and MIN_LR <= lr <= 10 else None
