"""Depth sweep at initialisation, no training: where does each cure start to vanish?

For every depth (8, 14, ..., 74) and every cure of `vgp_models.cures.CURES` (RunConfig overrides), build the
net for each seed, run forward and backward on the same few real training batches (the first images of the
coursework's train split, un-augmented, cross-entropy), and read the mean |gradient| of the first weight tensor
(the entry conv) and of the last (the linear layer), each averaged over the batches. Their ratio against depth,
on a log axis with a band over seeds, shows where each cure's input layer stops getting a gradient. Beside it,
the forward signal: the across-batch std of the last conv's output (vgp_models.signals), averaged over the
batches, shows where the output stops depending on the input.

A cure is read generically. Where its overrides cannot apply at a depth, that (cure, depth) is skipped with a
note instead of a number: the cure sets `depth` itself (it is measured at that depth only), the overrides fail
RunConfig's validation at that depth (the message is the note), or the built network has the same weights as
at the cure's first depth, i.e. `depth` does not change it (it is measured once, at that first depth).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F

from vgp_models.config import ConfigError, RunConfig
from vgp_models.cures import CURES
from vgp_models.data import Cifar100
from vgp_models.gradstats import GradientStats, weight_parameters
from vgp_models.signals import ForwardSignal
from vgp_models.sweep_config import SweepConfig
from vgp_models.train import build_model, model_input, resolve_device
from vgp_models.vanishing import gradient_ratio


@dataclass
class SweepPoint:
    """One net's numbers, or a skipped (cure, depth) with its note and no numbers."""

    cure: str
    depth: int
    seed: int
    first: float | None = None  # mean |grad| of the first weight tensor (the entry conv), mean over the batches
    last: float | None = None  # the same of the last weight tensor (the linear layer)
    note: str = ""
    last_signal_std: float | None = None  # across-batch std of the last conv's output, mean over the batches

    @property
    def ratio(self) -> float | None:
        ratio = gradient_ratio(self.first, self.last)
        return None if math.isnan(ratio) else ratio


@dataclass
class Cell:
    """A (cure, depth) and its points: one per seed, or one note when skipped."""

    cure: str
    depth: int
    points: list[SweepPoint] = field(default_factory=list)
    seconds: float = 0.0


def cure_config(cure: str, depth: int, sweep: SweepConfig, seed: int = 0) -> RunConfig:
    """The RunConfig of `cure` at `depth` for the sweep: reference defaults, the cure's overrides on top."""
    base = {"depth": depth, "seed": seed, "batch_size": sweep.batch_size, "device": sweep.device}
    return RunConfig.from_dict({**base, **CURES[cure]})


def initial_gradients(config: RunConfig, batches: list[tuple[torch.Tensor, torch.Tensor]],
                      device: torch.device) -> tuple[float, float, float | None]:  # fmt: skip
    """(first, last, last_signal_std): the first and last weight tensors' mean |grad| of a fresh net of `config`,
    averaged over one cross-entropy backward per batch (in train mode, as the first training step sees it), and
    the across-batch std of its last conv's output, averaged over the same forwards (None without a conv)."""
    model = build_model(config, device)
    model.train()
    stats = GradientStats(model)
    probe = ForwardSignal(model)
    stds = []
    for images, labels in batches:
        model.zero_grad(set_to_none=True)
        with probe.recording():
            logits = model(model_input(images, config))
        F.cross_entropy(logits, labels).backward()
        stats.update()
        convs = [row.std for row in probe.read() if probe.kinds[row.layer] == "conv"]
        stds += convs[-1:]
    means = stats.read()["abs_mean_epoch"]
    return means[0], means[-1], sum(stds) / len(stds) if stds else None


def weight_count(config: RunConfig) -> int:
    """How many weight tensors the network of `config` has, built without memory (the meta device)."""
    with torch.device("meta"):
        return len(weight_parameters(build_model(config, "meta")))


def skip_note(cure: str, depth: int, sweep: SweepConfig, first_depth: dict[str, tuple[int, int]]) -> str:
    """Why (cure, depth) is not measured, or "" when it is. `first_depth` (cure -> (depth, weight count)) remembers
    each cure's first measured depth, to tell when depth does not change the network."""
    fixed = CURES[cure].get("depth")
    if fixed is not None and fixed != depth:
        return f"{cure} sets its own depth ({fixed}); measured at that depth only"
    try:
        config = cure_config(cure, depth, sweep)
    except ConfigError as e:
        return f"{cure} does not apply at depth {depth}: {e}"
    count = weight_count(config)
    if cure in first_depth and first_depth[cure][1] == count and first_depth[cure][0] != depth:
        return (f"depth does not change {cure}'s network ({count} weight tensors, as at depth "
                f"{first_depth[cure][0]}); measured once, at depth {first_depth[cure][0]}")  # fmt: skip
    first_depth.setdefault(cure, (depth, count))
    return ""


def first_batches(data: Cifar100, sweep: SweepConfig) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """The first `batches` batches of the coursework train split, un-augmented; the same for every net."""
    n = min(sweep.images, len(data.train))
    if n == 0:
        raise ConfigError("the training split is empty; a sweep needs training images")
    return [(data.train.images[i : i + sweep.batch_size], data.train.labels[i : i + sweep.batch_size])
            for i in range(0, n, sweep.batch_size)]  # fmt: skip


def run_sweep(
    sweep: SweepConfig,
    data: Cifar100,
    on_cell: Callable[[Cell, int, int], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> list[Cell]:
    """Measure every (cure, depth) of `sweep` on `data` (already on the sweep's device), in `cells()` order.

    `on_cell(cell, done, total)` after each (cure, depth); `should_stop()` before each: True ends the sweep
    early with the cells done so far.
    """
    device = resolve_device(RunConfig(device=sweep.device))
    batches = first_batches(data, sweep)
    cells, first_depth = [], {}
    plan = sweep.cells()
    for done, (cure, depth) in enumerate(plan, start=1):
        if should_stop is not None and should_stop():
            break
        t0 = time.perf_counter()
        cell = Cell(cure, depth)
        note = skip_note(cure, depth, sweep, first_depth)
        if note:
            cell.points.append(SweepPoint(cure, depth, 0, note=note))
        for seed in range(sweep.seeds if not note else 0):
            first, last, signal = initial_gradients(cure_config(cure, depth, sweep, seed), batches, device)
            cell.points.append(SweepPoint(cure, depth, seed, first, last, last_signal_std=signal))
        cell.seconds = time.perf_counter() - t0
        cells.append(cell)
        if on_cell is not None:
            on_cell(cell, done, len(plan))
    return cells


POINT_COLUMNS = ("cure", "depth", "seed", "first", "last", "ratio", "last_signal_std", "note")


def point_rows(cells: list[Cell]) -> list[dict[str, Any]]:
    """Every point as a plain row (POINT_COLUMNS), for CSV files."""
    return [{"cure": p.cure, "depth": p.depth, "seed": p.seed, "first": p.first, "last": p.last, "ratio": p.ratio,
             "last_signal_std": p.last_signal_std, "note": p.note} for cell in cells for p in cell.points]  # fmt: skip


SUMMARIES = {
    "ratio": "input / last layer mean |grad| at initialisation, mean over seeds",
    "last_signal_std": "across-batch std of the last conv's output at initialisation, mean over seeds",
}


def summary_table(cells: list[Cell]) -> str:
    """Text tables, one per SUMMARIES value: one line per cure, one column per depth, each the mean over the
    seeds ('skip' where skipped); then the notes."""
    depths = sorted({c.depth for c in cells})
    by_cell = {(cell.cure, cell.depth): cell.points for cell in cells}
    notes = [f"  {p.cure} at depth {p.depth}: {p.note}" for cell in cells for p in cell.points if p.note]
    lines = []
    for value, heading in SUMMARIES.items():
        lines += [heading, f"{'cure':<12}" + "".join(f"{d:>10}" for d in depths)]
        for cure in dict.fromkeys(c.cure for c in cells):
            points = [by_cell.get((cure, d)) for d in depths]
            values = [None if ps is None else [v for p in ps if (v := getattr(p, value)) is not None] for ps in points]
            text = [f"{sum(v) / len(v):>10.1e}" if v else f"{'skip' if v is not None else '-':>10}" for v in values]
            lines.append(f"{cure:<12}" + "".join(text))
    return "\n".join(lines + (["notes:", *notes] if notes else []))
