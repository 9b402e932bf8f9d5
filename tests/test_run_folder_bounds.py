"""The strict reader against what a stranger's run folder may hold: links, FIFOs and devices in place of files,
JSON nested 100,000 deep, CSV memory bombs, and config.json fields of the wrong type, range or length; each one
line naming the file, nothing written. And uuids written any way are one run."""

from __future__ import annotations

import json
import os
import shutil
import threading
import tracemalloc
import uuid
from pathlib import Path

import pytest

from tests.cli_support import cli
from vgp_models.run_folder import RunFolderError
from vgp_models.run_folder_reader import read_run_folder
from worker import db, importer, schema

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def folder(reference_results: Path, tmp_path: Path) -> Path:
    """A copy of a completed one-epoch VGG08 run folder that a test may break."""
    return Path(shutil.copytree(reference_results / "demo" / "vgg08-lr0.001", tmp_path / "run"))


def refusal(folder: Path) -> str:
    with pytest.raises(RunFolderError) as caught:
        read_run_folder(folder)
    assert "\n" not in str(caught.value)
    return str(caught.value)


def test_a_link_is_refused_without_showing_its_target(folder: Path) -> None:
    (folder / "summary.csv").unlink()
    (folder / "summary.csv").symlink_to("/etc/passwd")
    message = refusal(folder)
    assert message == f"{folder}/summary.csv: a symbolic link; only regular files inside the folder are read"
    done = cli({"DATABASE_URL": "sqlite:///:memory:"}, "import", folder)
    assert done.returncode == 2 and "root:" not in done.stderr and "Traceback" not in done.stderr


def test_config_json_linked_to_dev_zero_is_refused_at_once(folder: Path) -> None:
    (folder / "config.json").unlink()
    (folder / "config.json").symlink_to("/dev/zero")
    assert refusal(folder).endswith("config.json: a symbolic link; only regular files inside the folder are read")


def test_a_fifo_never_blocks_the_import(folder: Path) -> None:
    (folder / "gradients.csv").unlink()
    os.mkfifo(folder / "gradients.csv")
    outcome: list[str] = []
    reader = threading.Thread(target=lambda: outcome.append(refusal(folder)), daemon=True)
    reader.start()
    reader.join(timeout=20)
    assert not reader.is_alive(), "the reader blocked on a FIFO"
    assert outcome == [f"{folder}/gradients.csv: not a regular file (a folder, FIFO, socket or device); refused"]


def test_json_nested_100000_deep_is_one_line(folder: Path) -> None:
    (folder / "config.json").write_text("[" * 100_000 + "]" * 100_000)
    assert refusal(folder) == f"{folder}/config.json: JSON nested deeper than 20 levels; not a run record"
    done = cli({"DATABASE_URL": "sqlite:///:memory:"}, "import", folder)
    assert done.returncode == 2 and "Traceback" not in done.stderr and len(done.stderr.splitlines()) == 1


def test_csv_memory_bomb_is_refused_in_bounded_memory(folder: Path) -> None:
    """4 MiB of zero rows (524,288) under the byte cap: refused at the row cap, holding a few MB, not ~400 MB."""
    with open(folder / "summary.csv", "w") as f:
        f.write("train_acc,train_loss,val_acc,val_loss\n" + "0,0,0,0\n" * (4 * 2**20 // 8 - 5))
    tracemalloc.start()
    try:
        message = refusal(folder)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert message == f"{folder}/summary.csv: more than 10,000 rows, the most a run's file may have"
    assert peak < 20 * 2**20, f"peak {peak / 2**20:.0f} MiB"


def test_a_csv_over_its_byte_cap_is_refused_before_reading(folder: Path) -> None:
    with open(folder / "summary.csv", "w") as f:
        f.write("train_acc,train_loss,val_acc,val_loss\n" + "0" * (5 * 2**20))
    assert refusal(folder) == f"{folder}/summary.csv: 5,242,918 bytes, over the 4,194,304 a run's file may have"


def record_of(folder: Path) -> dict:
    return json.loads((folder / "config.json").read_text())


BAD_FIELDS = {
    "best_val_acc": ({"a": 1}, "best_val_acc is {'a': 1}, not a finite number in 0..1"),
    "label": ("x" * 1_000_000, "label is 1,000,000 characters long; at most 200 are kept"),
    "params": ("many", "params is 'many', not a whole number from 1 to 1,000,000,000,000"),
    "device": ("d" * 33, "device is 33 characters long; at most 32 are kept"),
    "git_commit": (["abc"], "git_commit is ['abc'], not text"),
    "best_epoch": (2, "best_epoch is 2, not a whole number from 1 to 1"),
    "test_acc": (1.5, "test_acc is 1.5, not a finite number in 0..1"),
    "epochs_run": (3, "epochs_run is 3, not a whole number from 0 to 1"),
    "diverged_step": (2**40, "diverged_step is 1099511627776, not a whole number from 1 to 2,147,483,647"),
    "finished_at": ("2000-01-01T00:00:00+00:00", "finished_at 2000-01-01T00:00:00+00:00 is before started_at"),
    "started_at": (12, "started_at is 12, not an ISO time"),
    "run_uuid": ("not-a-uuid", "run_uuid is 'not-a-uuid', not a uuid"),
    "message": ({"x": 1}, "message is {'x': 1}, not text"),
}


@pytest.mark.parametrize("field", BAD_FIELDS)
def test_every_config_json_field_is_checked(folder: Path, field: str) -> None:
    value, expected = BAD_FIELDS[field]
    (folder / "config.json").write_text(json.dumps({**record_of(folder), field: value}))
    message = refusal(folder)
    assert message.startswith(f"{folder}/config.json: ") and expected in message


@pytest.mark.parametrize("written", [str.upper, lambda u: f"{{{u}}}", lambda u: f"urn:uuid:{u}",
                                     lambda u: u.replace("-", "")])  # fmt: skip
def test_a_uuid_written_any_way_is_one_run(store_url: str, folder: Path, tmp_path: Path, written) -> None:
    assert importer.import_folders([folder]).lines() == [f"{folder}: imported as run #1"]
    twin = Path(shutil.copytree(folder, tmp_path / "twin"))
    record = record_of(twin)
    (twin / "config.json").write_text(json.dumps({**record, "run_uuid": written(record["run_uuid"])}))
    assert importer.import_folders([twin]).lines() == [f"{twin}: already imported as run #1; nothing added"]
    with db.session_scope() as session:
        assert [r.uuid for r in session.query(schema.Run)] == [str(uuid.UUID(record["run_uuid"]))]
