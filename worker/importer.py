"""Run folders into the database: `python -m worker import PATH...` and the Runs page's zip upload.

A folder (`vgp_models/run_folder.py`'s format, or the course framework's summary.csv + test_summary.csv)
becomes one finished run with every epoch and gradient row, in one transaction. The run keeps the folder's
run uuid, so importing the same folder again adds nothing. Every folder is read and checked in full before
anything is written: a malformed one is a one-line RunFolderError naming the file and line.
"""

from __future__ import annotations

import datetime as dt
import io
import os
import shutil
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from vgp_models.provenance import parameter_count
from vgp_models.run_folder import (
    CONFIG_JSON,
    SUMMARY_CSV,
    FolderContents,
    RunFolderError,
    read_run_folder,
)
from worker.db import REPO_ROOT, session_scope
from worker.schema import EpochRow, GradientRow, Run, RunOrigin, RunStatus

__all__ = [
    "ZIP_MAX_BYTES", "Imported", "extract_zip", "find_run_folders", "import_folders", "import_reference", "import_zip",
    "max_zip_bytes", "reference_dir", "reference_sets",
]  # fmt: skip

ZIP_MAX_BYTES = 200 * 1024 * 1024
"""The largest zip the Runs page takes, and the most its members may unpack to (a zip bomb stops there)."""

IMPORTED_TAG = "imported"


@dataclass
class Imported:
    folder: Path
    run_id: int
    created: bool  # False: a run with this uuid was there already, nothing was added

    def message(self) -> str:
        if not self.created:
            return f"{self.folder}: already imported as run #{self.run_id}; nothing added"
        return f"{self.folder}: imported as run #{self.run_id}"


def reference_dir() -> Path:
    """The shipped results (VGP_REFERENCE_DIR, default the repository's results/): one folder of run folders
    per experiment, e.g. results/table1-cpu-8ep-bf16/vgg08-lr0.001/."""
    return Path(os.environ.get("VGP_REFERENCE_DIR") or REPO_ROOT / "results")


def reference_sets() -> list[Path]:
    """The experiments under reference_dir() that hold run folders with a config.json."""
    root = reference_dir()
    if not root.is_dir():
        return []
    return sorted(p for p in root.iterdir() if p.is_dir() and any(p.glob(f"*/{CONFIG_JSON}")))


def import_reference() -> list[Imported]:
    """Import every reference experiment, each as a group `reference · <its folder name>`."""
    return [item for s in reference_sets() for item in import_folders([s], group=f"reference · {s.name}")]


def max_zip_bytes() -> int:
    """The upload cap: VGP_IMPORT_MAX_MB (default 200) MiB."""
    return int(float(os.environ.get("VGP_IMPORT_MAX_MB") or ZIP_MAX_BYTES / 2**20) * 2**20)


def is_run_folder(path: Path) -> bool:
    return (path / CONFIG_JSON).is_file() or (path / SUMMARY_CSV).is_file()


def find_run_folders(path: Path, depth: int = 2) -> list[Path]:
    """`path` itself when it is a run folder, else the run folders up to `depth` levels below it, sorted."""
    path = Path(path)
    if not path.is_dir():
        raise RunFolderError(f"{path}: not a folder")
    found = _run_folders(path, depth)
    if not found:
        raise RunFolderError(f"{path}: no run folder ({CONFIG_JSON} or {SUMMARY_CSV}) in it or below it")
    return found


def _run_folders(path: Path, depth: int) -> list[Path]:
    if is_run_folder(path):
        return [path]
    if depth == 0:
        return []
    children = sorted(p for p in path.iterdir() if p.is_dir() and not p.is_symlink())
    return [folder for child in children for folder in _run_folders(child, depth - 1)]


def _time(text: object) -> dt.datetime | None:
    if not text:
        return None
    value = dt.datetime.fromisoformat(str(text))
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def _new_run(contents: FolderContents, group: str | None) -> Run:
    record, config = contents.record, contents.config
    status = RunStatus(record["status"])
    return Run(
        uuid=contents.run_uuid,
        name=record.get("label") or config.label,
        group_name=group or None,
        tags=[IMPORTED_TAG],
        origin=RunOrigin.IMPORTED,
        note=f"imported from {contents.path.name}",
        config=contents.config_dict,
        status=status,
        reason=None if status is RunStatus.COMPLETED else record.get("message"),
        created_at=_time(record.get("started_at")) or dt.datetime.now(dt.UTC),
        started_at=_time(record.get("started_at")),
        finished_at=_time(record.get("finished_at")),
        epochs_total=contents.epochs_total,
        epochs_done=len(contents.epochs),
        params=record.get("params") or parameter_count(config),
        device=record.get("device"),
        best_epoch=record.get("best_epoch"),
        best_val_acc=record.get("best_val_acc"),
        test_acc=contents.test[0] if contents.test else None,
        test_loss=contents.test[1] if contents.test else None,
        diverged_step=record.get("diverged_step"),
        git_sha=record.get("git_commit"),
    )


def import_contents(session: Session, contents: FolderContents, group: str | None = None) -> Imported:
    """Write one checked folder as a run with its epochs and gradients (the caller's transaction)."""
    existing = session.scalar(select(Run.id).where(Run.uuid == contents.run_uuid))
    if existing is not None:
        return Imported(contents.path, int(existing), False)
    run = _new_run(contents, group)
    session.add(run)
    session.flush()
    session.execute(insert(EpochRow), [{"run_id": run.id, **e} for e in contents.epochs])
    if contents.gradients:
        session.execute(insert(GradientRow), [{"run_id": run.id, **g} for g in contents.gradients])
    return Imported(contents.path, int(run.id), True)


def import_folders(
    paths: list[Path], preset: str | None = None, lr: float | None = None, group: str | None = None
) -> list[Imported]:
    """Import every run folder in `paths` (each a run folder or a folder of them), one transaction each.

    All folders are read and checked first: one bad folder raises RunFolderError and nothing is written.
    """
    folders = [f for p in paths for f in find_run_folders(Path(p))]
    checked = [read_run_folder(f, preset, lr) for f in folders]
    done = []
    for contents in checked:
        try:
            with session_scope() as session:
                done.append(import_contents(session, contents, group))
        except IntegrityError:  # another import of the same uuid won the race: the run is there once
            with session_scope() as session:
                run_id = session.scalar(select(Run.id).where(Run.uuid == contents.run_uuid))
            if run_id is None:
                raise
            done.append(Imported(contents.path, int(run_id), False))
    return done


def extract_zip(data: bytes, dest: Path, max_bytes: int = ZIP_MAX_BYTES) -> None:
    """Unpack an uploaded zip into `dest`, refusing (RunFolderError, one line) what could escape or explode:
    more than `max_bytes` packed or unpacked, absolute paths, `..`, links, anything but files and folders."""
    if len(data) > max_bytes:
        raise RunFolderError(f"the zip is {len(data) / 2**20:.1f} MiB; the limit is {max_bytes / 2**20:.0f} MiB")
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        members = archive.infolist()
    except (zipfile.BadZipFile, ValueError) as e:
        raise RunFolderError(f"not a readable zip ({e})") from None
    if sum(m.file_size for m in members) > max_bytes:
        raise RunFolderError(f"the zip unpacks to more than {max_bytes / 2**20:.0f} MiB")
    root = dest.resolve()
    for member in members:  # every name checked before the first byte is written
        name = PurePosixPath(member.filename.replace("\\", "/"))
        if name.is_absolute() or ".." in name.parts or not (root / name).resolve().is_relative_to(root):
            raise RunFolderError(f"the zip holds {member.filename!r}, a path outside its folder; nothing imported")
        if (member.external_attr >> 16) & 0o170000 not in (0, 0o100000, 0o040000):  # a symlink or a device
            raise RunFolderError(f"the zip holds {member.filename!r}, not a plain file; nothing imported")
    try:
        with archive:
            for member in members:
                target = root / member.filename.replace("\\", "/")
                if member.is_dir():
                    target.mkdir(parents=True, exist_ok=True)
                    continue
                target.parent.mkdir(parents=True, exist_ok=True)
                with archive.open(member) as src, open(target, "wb") as out:
                    shutil.copyfileobj(src, out)  # never more than the header's size: zipfile stops there
    except (zipfile.BadZipFile, NotImplementedError) as e:  # a bad CRC, an unknown compression
        raise RunFolderError(f"not a readable zip ({e})") from None


def import_zip(data: bytes, group: str | None = None, max_bytes: int | None = None) -> list[Imported]:
    """The Runs page's upload: a zip of run folders, unpacked into a temporary folder, imported, removed."""
    with tempfile.TemporaryDirectory(prefix="vgp-import-") as tmp:
        try:
            extract_zip(data, Path(tmp), max_zip_bytes() if max_bytes is None else max_bytes)
            imported = import_folders([Path(tmp)], group=group)
        except RunFolderError as e:  # name files as the zip does
            raise RunFolderError(str(e).replace(f"{tmp}/", "").replace(tmp, "the zip")) from None
    for item in imported:  # name them as the zip does, not by the temporary folder
        item.folder = item.folder.relative_to(tmp)
    return imported
