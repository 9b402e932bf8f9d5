"""The report's Table 1, headless: seven run folders, K rows at a time, resumable, printed beside the report.

  python -m vgp_models table1 --out DIR [--epochs N] [--amp] [--subset N] [--device D] [--jobs K] [--data DIR]

Each row trains in a child process into DIR/<preset>-lr<lr>/ (a run folder, `run_folder.py`). Run again,
the command skips completed rows and resumes the others from their last.pt. K > 1 is for a GPU; on a CPU,
one row at a time with all cores is fastest (docs/benchmarks.md). The whole table's ETA starts from a
first-step probe of each row and follows the measured step times once rows train.
"""

from __future__ import annotations

import csv
import multiprocessing
import os
import queue
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from vgp_models.config import TABLE1, RunConfig, Table1Row, same_config
from vgp_models.metrics import EpochMetrics
from vgp_models.run_folder import (
    CONFIG_JSON,
    SUMMARY_CSV,
    RunFolderError,
    read_config_json,
    read_run_folder,
    train_into,
)
from vgp_models.train import probe_step_seconds

PRINT_EVERY_S = 15.0  # a progress line at most this often (and at every epoch's end)


@dataclass
class Row:
    number: int  # 1..7, Table 1's order
    reference: Table1Row
    config: RunConfig
    folder: Path
    step_seconds: float = 0.0  # probe first, then measured
    steps_left: int = 0
    epoch: int = 0
    step: int = 0
    steps_per_epoch: int = 0
    started: float = 0.0
    steps_run: int = 0
    status: str = "pending"  # pending | done | running | completed | diverged | cancelled | failed

    @property
    def name(self) -> str:
        return f"{self.reference.model} lr {self.reference.lr:g}"


def row_folder_name(row: Table1Row) -> str:
    return f"{row.preset}-lr{row.lr:g}"


def table1_rows(out: Path, epochs: int, amp: bool, subset: int, device: str) -> list[Row]:
    return [
        Row(
            i,
            ref,
            RunConfig.from_preset(ref.preset, lr=ref.lr, epochs=epochs, amp=amp, subset=subset, device=device),
            out / row_folder_name(ref),
        )
        for i, ref in enumerate(TABLE1, start=1)
    ]


def is_completed(row: Row) -> bool:
    """True for a row whose folder holds this config, completed; RunFolderError for a folder of another config."""
    record = read_config_json(row.folder)
    if record is None:
        return False
    if not same_config(record.get("config"), row.config):  # a folder from before a field existed still matches
        raise RunFolderError(
            f"{row.folder / CONFIG_JSON} holds another config than this table asks for "
            "(other --epochs, --amp, --subset or --device?); use another --out"
        )
    return record.get("status") == "completed"


def _train_row(row: Row, data_dir: str, download: bool, threads: int, events: multiprocessing.Queue) -> None:
    """Child process: train one row, sending ('step'|'epoch'|'done', row number, ...) events to the parent."""
    if threads:
        torch.set_num_threads(threads)
    last_sent = 0.0

    def on_step(step: int, steps: int) -> None:
        nonlocal last_sent
        if time.monotonic() - last_sent >= 1.0 or step == steps:
            last_sent = time.monotonic()
            events.put(("step", row.number, step, steps))

    def on_epoch(m: EpochMetrics) -> None:
        events.put(
            ("epoch", row.number, m.epoch, m.epochs, m.train_loss, m.train_acc, m.val_loss, m.val_acc, m.seconds)
        )

    try:
        result = train_into(
            row.folder, row.config, data_dir, resume=True, download=download, on_step=on_step, on_epoch=on_epoch
        )
        events.put(("done", row.number, result.status, result.message))
    except KeyboardInterrupt:  # Ctrl-C reaches the whole process group; the parent says how to resume
        pass
    except Exception as e:  # the parent prints it on one line; the other rows go on
        events.put(("done", row.number, "failed", f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"))


def fmt_duration(seconds: float) -> str:
    seconds = max(0, int(seconds))
    h, rest = divmod(seconds, 3600)
    return f"{h}h {rest // 60:02d}m" if h else f"{rest // 60}m {rest % 60:02d}s"


def table_eta(rows: list[Row], jobs: int) -> float:
    return sum(r.steps_left * r.step_seconds for r in rows if r.status in ("pending", "running")) / max(jobs, 1)


def run_table1(
    out: Path, data_dir: str, epochs: int, amp: bool, subset: int, device: str, jobs: int, download: bool = False
) -> int:
    """Train the rows that are not completed, `jobs` at a time; print progress, then the table. 0 when all completed."""
    rows = table1_rows(out, epochs, amp, subset, device)
    todo = [r for r in rows if not is_completed(r)]
    for r in rows:
        if r not in todo:
            r.status = "done"
            print(f"row {r.number}/7 {r.name}: completed already, skipped ({r.folder})", file=sys.stderr)
    n_train = min(subset, 47_500) if subset else 47_500
    for r in todo:
        r.steps_per_epoch = -(-n_train // r.config.batch_size)
        r.epoch = _epochs_in_folder(r.folder)
        r.steps_left = (epochs - r.epoch) * r.steps_per_epoch
        r.step_seconds = probe_step_seconds(r.config)
    if todo:
        print(
            f"table1: {len(todo)} row(s) to train, {jobs} at a time; estimated {fmt_duration(table_eta(rows, jobs))}"
            f" (first-step probe)",
            file=sys.stderr,
            flush=True,
        )
    threads = max(1, (os.cpu_count() or 1) // jobs) if jobs > 1 and "OMP_NUM_THREADS" not in os.environ else 0
    ctx = multiprocessing.get_context("spawn")  # CUDA cannot be forked
    events = ctx.Queue()
    running: dict[int, multiprocessing.Process] = {}
    pending = list(todo)
    by_number = {r.number: r for r in rows}
    last_print = 0.0
    try:
        while pending or running:
            while pending and len(running) < jobs:
                r = pending.pop(0)
                r.status, r.started = "running", time.monotonic()
                running[r.number] = ctx.Process(target=_train_row, args=(r, data_dir, download, threads, events))
                running[r.number].start()
            try:
                event = events.get(timeout=1.0)
            except queue.Empty:
                event = None
            if event is not None:
                _apply(by_number[event[1]], event, rows, jobs, running)
            for number, proc in list(running.items()):
                if not proc.is_alive() and events.empty():
                    proc.join()
                    del running[number]
                    if by_number[number].status == "running":  # died without a word (killed, out of memory)
                        by_number[number].status = "failed"
                        print(
                            f"row {number}/7 {by_number[number].name}: the process exited with code "
                            f"{proc.exitcode}; run the command again to resume",
                            file=sys.stderr,
                            flush=True,
                        )
            if time.monotonic() - last_print >= PRINT_EVERY_S and running:
                last_print = time.monotonic()
                for number in running:
                    _print_progress(by_number[number], rows, jobs)
    except KeyboardInterrupt:
        for proc in running.values():
            proc.terminate()
        print("\ninterrupted; run the same command again to resume", file=sys.stderr)
        return 130
    print(format_table(rows))
    return 0 if all(r.status in ("done", "completed") for r in rows) else 1


def _apply(row: Row, event: tuple, rows: list[Row], jobs: int, running: dict) -> None:
    kind = event[0]
    if kind == "step":
        _, _, step, steps = event
        delta = step - row.step if step > row.step else step  # row.step is 0 again after each epoch
        row.steps_run, row.steps_left = row.steps_run + delta, max(0, row.steps_left - delta)
        row.step, row.steps_per_epoch = step, steps
        row.step_seconds = (time.monotonic() - row.started) / max(row.steps_run, 1)
    elif kind == "epoch":
        _, _, epoch, epochs, tl, ta, vl, va, seconds = event
        row.epoch, row.step = epoch, 0
        print(
            f"row {row.number}/7 {row.name}: epoch {epoch}/{epochs}  train {tl:.4f} / {ta:.2%}  "
            f"val {vl:.4f} / {va:.2%}  {seconds:.0f}s  (table ETA {fmt_duration(table_eta(rows, jobs))})",
            file=sys.stderr,
            flush=True,
        )
    elif kind == "done":
        _, _, status, message = event
        row.status, row.steps_left = status, 0
        print(f"row {row.number}/7 {row.name}: {status} ({message})", file=sys.stderr, flush=True)


def _print_progress(row: Row, rows: list[Row], jobs: int) -> None:
    where = (
        f"epoch {row.epoch + 1}/{row.config.epochs} step {row.step}/{row.steps_per_epoch}"
        if row.epoch < row.config.epochs
        else "testing the best checkpoint"
    )
    print(
        f"row {row.number}/7 {row.name}: {where}  {row.step_seconds * 1000:.0f} ms/step  row ETA "
        f"{fmt_duration(row.steps_left * row.step_seconds)}  table ETA {fmt_duration(table_eta(rows, jobs))}",
        file=sys.stderr,
        flush=True,
    )


def _epochs_in_folder(folder: Path) -> int:
    """Epochs already in summary.csv (their checkpoint resumes after them); 0 for a new folder."""
    path = folder / SUMMARY_CSV
    if not path.exists() or not (folder / "last.pt").exists():
        return 0
    with open(path, newline="") as f:
        return max(0, len(list(csv.reader(f))) - 1)


def _measured(row: Row) -> dict | None:
    """The row's numbers at its best-validation epoch, and test, from its folder; None until it completed."""
    record = read_config_json(row.folder)
    if record is None or record.get("status") != "completed" or not record.get("best_epoch"):
        return None
    contents = read_run_folder(row.folder)  # the format's one strict reader
    best = contents.epochs[record["best_epoch"] - 1]
    test_acc, test_loss = contents.test
    return {
        "epochs": len(contents.epochs),
        "best_epoch": record["best_epoch"],
        "train_loss": best["train_loss"],
        "train_acc": 100 * best["train_acc"],
        "val_loss": best["val_loss"],
        "val_acc": 100 * best["val_acc"],
        "test_loss": test_loss,
        "test_acc": 100 * test_acc,
    }


def format_table(rows: list[Row]) -> str:
    """Markdown: measured (at the best-val epoch) beside the report's Table 1, with differences."""
    lines = [
        "| model | LR | epochs (best) | train loss (report, diff) | train acc % | val loss | val acc % "
        "| test loss | test acc % |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        m, ref = _measured(r), r.reference
        if m is None:
            lines.append(f"| {ref.model} | {ref.lr:g} | not completed | | | | | | |")
            continue
        cells = [
            f"{m[k]:.2f} ({getattr(ref, k):.2f}, {m[k] - getattr(ref, k):+.2f})"
            for k in ("train_loss", "train_acc", "val_loss", "val_acc")
        ]
        lines.append(
            f"| {ref.model} | {ref.lr:g} | {m['epochs']} ({m['best_epoch']}) | {' | '.join(cells)} | "
            f"{m['test_loss']:.2f} | {m['test_acc']:.2f} |"
        )
    return "\n".join(lines)
