"""Peak memory of a zip upload (the Runs page's import), before and after the bounded reader (issue 17.7).

Each case runs in a fresh child process that imports the product first; its peak is VmHWM after the upload
minus VmRSS before it, so the interpreter and libraries are not counted.

  hostile   a zip of a few dozen KiB holding a summary.csv of zero rows (--mib MiB unpacked)
    before: main's reader, as it was: the whole CSV as lists, then a dict per row (copied below as
            `old_rows`, the baseline)
    after:  worker.importer.import_zip: unpacked as a stream, the CSV refused at its size cap before a
            line is parsed
  largest   the largest upload the reader accepts: one run folder at the gradient-row cap
            (100 epochs x 2,000 layers = 200,000 rows), imported into a temp SQLite database

    .venv/bin/python bench/import_memory.py [--mib 30]
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import multiprocessing
import os
import sys
import tempfile
import zipfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import machine

HEADER = "train_acc,train_loss,val_acc,val_loss\n"


def rss_kib(field: str) -> int:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith(field))


def record(epochs: int) -> str:
    """A valid config.json, so that the reader goes on to the CSVs."""
    from vgp_models.config import RunConfig

    config = RunConfig.from_preset("vgg08", epochs=epochs)
    return json.dumps({"format": "vgp-run-folder/1", "run_uuid": "5a0f7d8e-4a57-4c5e-9d7a-2f8b2c0d1e33",
                       "label": "VGG08", "config": config.to_dict(), "params": 60_000, "status": "completed",
                       "best_epoch": 1, "started_at": "2026-12-01T00:00:00+00:00",
                       "finished_at": "2026-12-01T01:00:00+00:00"})  # fmt: skip


def hostile_zip(mib: int) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        archive.writestr("run/config.json", record(100))
        archive.writestr("run/summary.csv", HEADER + "0,0,0,0\n" * (mib * 2**20 // 8))
        archive.writestr("run/test_summary.csv", "test_acc,test_loss\n0,0\n")
    return buffer.getvalue()


def largest_zip() -> bytes:
    epochs, layers = 100, 2_000
    grads = io.StringIO()
    grads.write("epoch,layer_index,layer,abs_mean_last,abs_mean_epoch,l2\n")
    for e in range(1, epochs + 1):
        grads.writelines(f"{e},{i},block_{i}_conv,0.00123,0.00234,0.0345\n" for i in range(layers))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("run/config.json", record(epochs))
        archive.writestr("run/summary.csv", HEADER + "0.5,1.5,0.4,1.8\n" * epochs)
        archive.writestr("run/epochs.csv", "epoch,lr,seconds,finished_at\n" + "".join(
            f"{e},0.001,1.0,2026-12-01T00:00:00+00:00\n" for e in range(1, epochs + 1)))  # fmt: skip
        archive.writestr("run/gradients.csv", grads.getvalue())
        archive.writestr("run/test_summary.csv", "test_acc,test_loss\n0.4,1.9\n")
    return buffer.getvalue()


def old_rows(path: Path, header: list[str]) -> list[tuple[int, dict[str, str]]]:
    """main's `_rows` before this change (the baseline): every line as a list, then a dict per row."""
    with open(path, newline="") as f:
        lines = list(csv.reader(f))
    got = lines[0]
    assert sorted(got) == sorted(header)
    return [(n, dict(zip(got, fields))) for n, fields in enumerate(lines[1:], start=2)]


def measure(case: str, data: bytes, out: multiprocessing.Queue) -> None:
    from vgp_models.run_folder import SUMMARY_HEADER, RunFolderError
    from worker import db, importer

    with tempfile.TemporaryDirectory() as tmp:
        os.environ["DATABASE_URL"] = f"sqlite:///{tmp}/vgp.db"
        db.upgrade_database()
        if case == "before":
            archive = zipfile.ZipFile(io.BytesIO(data))
            archive.extractall(tmp)
        before = rss_kib("VmRSS")
        try:
            if case == "before":
                outcome = f"read {len(old_rows(Path(tmp) / 'run' / 'summary.csv', SUMMARY_HEADER)):,} rows"
            else:
                outcome = "; ".join(importer.import_zip(data, max_bytes=200 * 2**20).lines())
        except RunFolderError as e:
            outcome = f"refused: {e}"
        out.put((rss_kib("VmHWM") - before, outcome))


def run(case: str, data: bytes) -> tuple[int, str]:
    out: multiprocessing.Queue = multiprocessing.get_context("spawn").Queue()
    child = multiprocessing.get_context("spawn").Process(target=measure, args=(case, data, out))
    child.start()
    result = out.get()
    child.join()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mib", type=int, default=30, help="the hostile summary.csv's unpacked size")
    args = parser.parse_args()
    print(machine())
    hostile = hostile_zip(args.mib)
    print(f"hostile zip: {len(hostile) / 1024:.0f} KiB packed, a {args.mib} MiB summary.csv")
    before, said = run("before", hostile)
    print(f"  before (main's reader): peak +{before / 1024:,.0f} MiB ({said})")
    after, said = run("after", hostile)
    print(f"  after  (import_zip):    peak +{after:,} KiB ({said[:110]})")
    print(f"  ratio before/after: {before / max(after, 1):,.0f}x")
    largest = largest_zip()
    peak, said = run("after", largest)
    print(f"largest accepted upload: {len(largest) / 2**20:.1f} MiB packed, 200,000 gradient rows")
    print(f"  import_zip: peak +{peak / 1024:,.0f} MiB ({said})")


if __name__ == "__main__":
    main()
