"""The report's Table 1, headless: seven run folders, K rows at a time, resumable, printed beside the report.

  python -m vgp_models table1 --out DIR [--epochs N] [--amp] [--subset N] [--device D] [--jobs K] [--data DIR]

Each row trains in a child process of its own into DIR/<preset>-lr<lr>/ (a run folder, `run_folder.py`,
`train_into`), which prints the row's progress; the folders are the only state, so run again and the command
skips completed rows and resumes the others from their last.pt. K > 1 is for a GPU; on a CPU, one row at a time
with all cores is fastest (docs/benchmarks.md). The table's estimate comes from a first-step probe of each row;
each row's ETA then follows its measured step times.
"""

from __future__ import annotations

import csv
import multiprocessing
import multiprocessing.connection
import os
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path

import torch

from vgp_models.config import TABLE1, TRAIN_IMAGES, RunConfig, Table1Row, same_config, split_images
from vgp_models.durations import fmt_duration
from vgp_models.error_lines import error_line
from vgp_models.metrics import EpochMetrics
from vgp_models.run_folder import CONFIG_JSON, SUMMARY_CSV, RunFolderError, read_config_json, train_into
from vgp_models.run_folder_reader import read_run_folder
from vgp_models.table1_compare import COMPARED, beside_report, measured_numbers
from vgp_models.train import probe_step_seconds

PRINT_EVERY_S = 15.0  # a row's progress line at most this often (and at every epoch's end)


@dataclass(frozen=True)
class Row:
    number: int  # 1..7, Table 1's order
    reference: Table1Row
    config: RunConfig
    folder: Path

    @property
    def name(self) -> str:
        return f"{self.reference.model} lr {self.reference.lr:g}"

    @property
    def train_images(self) -> int:
        return split_images(self.config.subset, TRAIN_IMAGES)

    @property
    def steps_per_epoch(self) -> int:
        return -(-self.train_images // self.config.batch_size)

    def say(self, text: str) -> None:
        print(f"row {self.number}/7 {self.name}: {text}", file=sys.stderr, flush=True)


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


def run_table1(
    out: Path, data_dir: str, epochs: int, amp: bool, subset: int, device: str, jobs: int, download: bool = False
) -> int:
    """Train the rows that are not completed, `jobs` at a time; then print the table. 0 when every row completed."""
    rows = table1_rows(out, epochs, amp, subset, device)
    todo = [r for r in rows if not is_completed(r)]  # refuses a folder of another config before any training
    for r in rows:
        if r not in todo:
            r.say(f"completed already, skipped ({r.folder})")
    if todo:
        step_seconds = probe_presets(todo)
        estimate = sum(steps_left(r) * step_seconds[r.reference.preset] for r in todo) / jobs
        print(f"table1: {len(todo)} row(s) to train, {jobs} at a time; estimated {fmt_duration(estimate)}"
              " (first-step probe)", file=sys.stderr, flush=True)  # fmt: skip
    try:
        train_in_processes(todo, jobs, data_dir, download)
    except KeyboardInterrupt:
        print("\ninterrupted; run the same command again to resume", file=sys.stderr)
        return 130
    print(format_table(rows))
    return 0 if all(is_completed(r) for r in rows) else 1


def train_in_processes(rows: list[Row], jobs: int, data_dir: str, download: bool) -> None:
    """Train each row in a child process of its own, `jobs` at a time. A child that dies without a word (killed,
    out of memory) is said so; the other rows go on.

    The children fork from a server process that imported torch once and ran nothing (forkserver): never from
    this one, which has run torch (CUDA cannot be forked), and without each child importing torch again (nor
    torch._dynamo, which torch.optim imports for the first optimizer: 3 s of CPU a row on a 2-core machine)."""
    threads = max(1, (os.cpu_count() or 1) // jobs) if jobs > 1 and "OMP_NUM_THREADS" not in os.environ else 0
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload([__name__, "torch._dynamo"])
    pending, running = list(rows), {}
    try:
        while pending or running:
            while pending and len(running) < jobs:
                row = pending.pop(0)
                process = context.Process(target=train_row, args=(row, data_dir, download, threads))
                process.start()
                running[process.sentinel] = (row, process)
            for sentinel in multiprocessing.connection.wait(list(running)):
                row, process = running.pop(sentinel)
                process.join()
                if process.exitcode != 0:
                    row.say(f"the process exited with code {process.exitcode}; run the command again to resume")
    finally:  # Ctrl-C reaches the children too; this is for any other way out
        for _, process in running.values():
            process.terminate()


def train_row(row: Row, data_dir: str, download: bool, threads: int) -> None:
    """Child process: train one row into its folder, saying its progress and how it ended (the folder says it
    too). Exit status 0 whenever it said how it ended, even failed: the parent only reports a silent death."""
    if threads:
        torch.set_num_threads(threads)
    progress = RowProgress(row)
    try:
        result = train_into(row.folder, row.config, data_dir, resume=True, download=download,
                            on_step=progress.step, on_epoch=progress.epoch)  # fmt: skip
        row.say(f"{result.status} ({result.message})")
    except KeyboardInterrupt:  # Ctrl-C reaches the whole process group; the parent says how to resume
        pass
    except Exception as e:  # one line; the other rows go on
        row.say(f"failed ({error_line(e)})")


class RowProgress:
    """A row's progress lines, in its own process: every PRINT_EVERY_S and at each epoch's end, with the row's
    ETA from its measured step times."""

    def __init__(self, row: Row) -> None:
        self.row, self.epochs_done, self.left = row, epochs_in_folder(row), steps_left(row)
        self.started, self.printed, self.steps_run, self.step_in_epoch = time.monotonic(), 0.0, 0, 0

    def eta(self) -> str:
        return fmt_duration(self.left * (time.monotonic() - self.started) / max(self.steps_run, 1))

    def step(self, step: int, steps: int) -> None:
        ran = step - self.step_in_epoch if step > self.step_in_epoch else step  # 0 again after each epoch
        self.steps_run, self.left, self.step_in_epoch = self.steps_run + ran, max(0, self.left - ran), step
        if time.monotonic() - self.printed >= PRINT_EVERY_S:
            self.printed = time.monotonic()
            ms = 1000 * (self.printed - self.started) / max(self.steps_run, 1)
            where = f"epoch {self.epochs_done + 1}/{self.row.config.epochs} step {step}/{steps}"
            self.row.say(f"{where}  {ms:.0f} ms/step  row ETA {self.eta()}")

    def epoch(self, m: EpochMetrics) -> None:
        self.epochs_done, self.step_in_epoch = m.epoch, 0
        self.row.say(f"epoch {m.epoch}/{m.epochs}  train {m.train_loss:.4f} / {m.train_acc:.2%}  val {m.val_loss:.4f} "
                     f"/ {m.val_acc:.2%}  {m.seconds:.0f}s  (row ETA {self.eta()})")  # fmt: skip


def epochs_in_folder(row: Row) -> int:
    """Epochs already in the row's summary.csv (their checkpoint resumes after them); 0 for a new folder."""
    path = row.folder / SUMMARY_CSV
    if not path.exists() or not (row.folder / "last.pt").exists():
        return 0
    with open(path, newline="") as f:
        return max(0, len(list(csv.reader(f))) - 1)


def probe_presets(rows: list[Row]) -> dict[str, float]:
    """Seconds a training step takes, per preset among `rows` (a first-step probe): rows that differ only in lr
    take as long a step, so Table 1 needs five probes for seven rows; each at the batch its steps really have
    (a subset smaller than a batch trains one short batch an epoch)."""
    seconds: dict[str, float] = {}
    for row in rows:
        if row.reference.preset not in seconds:
            batch = min(row.config.batch_size, row.train_images)
            seconds[row.reference.preset] = probe_step_seconds(replace(row.config, batch_size=batch))
    return seconds


def steps_left(row: Row) -> int:
    """Training steps the row has left, after the epochs already in its folder."""
    return max(0, row.config.epochs - epochs_in_folder(row)) * row.steps_per_epoch


def measured(row: Row) -> dict | None:
    """The row's numbers at its best-validation epoch, and test (table1_compare), from its folder; None until it
    completed."""
    record = read_config_json(row.folder)
    if record is None or record.get("status") != "completed" or not record.get("best_epoch"):
        return None
    contents = read_run_folder(row.folder)  # the format's one strict reader
    test_acc, test_loss = contents.test
    numbers = measured_numbers(contents.epochs[record["best_epoch"] - 1], test_loss, test_acc)
    return {"epochs": len(contents.epochs), "best_epoch": record["best_epoch"], **numbers}


def format_table(rows: list[Row]) -> str:
    """Markdown: measured (at the best-val epoch) beside the report's Table 1, with differences."""
    lines = [
        "| model | LR | epochs (best) | train loss (report, diff) | train acc % | val loss | val acc % "
        "| test loss | test acc % |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        m, ref = measured(r), r.reference
        if m is None:
            lines.append(f"| {ref.model} | {ref.lr:g} | not completed | | | | | | |")
            continue
        report = beside_report(m, ref)
        cells = [f"{m[k]:.2f} ({report[f'report_{k}']:.2f}, {report[f'diff_{k}']:+.2f})" for k in COMPARED]
        lines.append(
            f"| {ref.model} | {ref.lr:g} | {m['epochs']} ({m['best_epoch']}) | {' | '.join(cells)} | "
            f"{m['test_loss']:.2f} | {m['test_acc_pct']:.2f} |"
        )
    return "\n".join(lines)
