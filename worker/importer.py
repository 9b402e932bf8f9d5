"""Run folders into the database: `python -m worker import PATH...`, the shipped reference results and the
Runs page's zip upload.

A folder (`vgp_models/run_folder.py`'s format, or the course framework's summary.csv + test_summary.csv), read by
`vgp_models/run_folder_reader.py`, becomes one run with every epoch, gradient, forward-signal and step row. The run
keeps the folder's run uuid (canonical), so importing the same folder again adds nothing. Each folder is read and
checked in full before its rows are written, and one transaction covers the whole import: a folder the database
refuses rolls back every other. Strict (the CLI): the first malformed folder is a one-line RunFolderError naming the
file and line, and nothing is written. keep_going (the Runs page): each malformed folder is listed with its reason,
the good ones are written.
"""

from __future__ import annotations

import datetime as dt
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from vgp_models.course_folder import CourseOptions
from vgp_models.landscape_file import StoredLandscape, read_folder_landscapes
from vgp_models.provenance import parameter_count
from vgp_models.run_folder import CONFIG_JSON, SUMMARY_CSV, RunFolderError
from vgp_models.run_folder_reader import FolderContents, read_run_folder
from worker import landscapes
from worker.db import REPO_ROOT, session_scope
from worker.schema import EpochRow, GradientRow, Run, RunOrigin, RunStatus, SignalRow
from worker.store import record_steps
from worker.unzip import extract_zip

__all__ = [
    "ZIP_MAX_BYTES", "ImportReport", "Imported", "Refused", "find_run_folders", "import_folders", "import_reference",
    "import_zip", "max_zip_bytes", "reference_dir", "reference_sets",
]  # fmt: skip

ZIP_MAX_BYTES = 200 * 1024 * 1024
"""The largest zip the Runs page takes, and the most its members may unpack to (a zip bomb stops there)."""

IMPORTED_TAG = "imported"


INSERT_CHUNK = 5_000  # rows per INSERT: a long run's gradients are never all copied at once


@dataclass
class Imported:
    folder: Path
    run_id: int
    created: bool  # False: a run with this uuid was there already, nothing was added
    notes: tuple[str, ...] = ()  # FolderContents.notes

    def message(self) -> str:
        if not self.created:
            return f"{self.folder}: already imported as run #{self.run_id}; nothing added"
        return f"{self.folder}: imported as run #{self.run_id}" + (f" ({'; '.join(self.notes)})" if self.notes else "")


@dataclass
class Refused:
    folder: Path
    reason: str  # one line that names the file

    def message(self) -> str:
        return self.reason


@dataclass
class ImportReport:
    """What one import did: every run folder found, imported (or there already) or refused with its reason."""

    imported: list[Imported] = field(default_factory=list)
    refused: list[Refused] = field(default_factory=list)

    @property
    def added(self) -> int:
        return sum(item.created for item in self.imported)

    def lines(self) -> list[str]:
        return [item.message() for item in [*self.imported, *self.refused]]


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


def import_reference() -> ImportReport:
    """Import every reference experiment, each as a group `reference · <its folder name>`, in one transaction."""
    return _import([(f, f"reference · {s.name}") for s in reference_sets() for f in find_run_folders(s)])


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
        name=record.get("label") or getattr(config, "label", "own model"),  # a tracked run's config is a dict
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
        params=record.get("params") or (None if isinstance(config, dict) else parameter_count(config)),
        device=record.get("device"),
        best_epoch=record.get("best_epoch"),
        best_val_acc=record.get("best_val_acc"),
        test_acc=contents.test[0] if contents.test else None,
        test_loss=contents.test[1] if contents.test else None,
        diverged_step=record.get("diverged_step"),
        git_sha=record.get("git_commit"),
    )


def _insert(session: Session, table: type, run_id: int, rows: list[dict]) -> None:
    for start in range(0, len(rows), INSERT_CHUNK):
        session.execute(insert(table), [{"run_id": run_id, **r} for r in rows[start : start + INSERT_CHUNK]])


def import_contents(
    session: Session, contents: FolderContents, group: str | None = None, carried: list[StoredLandscape] = ()
) -> Imported:
    """Write one checked folder as a run with its epochs, gradients and steps, and the landscapes it `carried`
    (read_folder_landscapes), in the caller's transaction."""
    existing = session.scalar(select(Run.id).where(Run.uuid == contents.run_uuid))
    if existing is not None:
        return Imported(contents.path, int(existing), False)
    run = _new_run(contents, group)
    session.add(run)
    session.flush()
    _insert(session, EpochRow, run.id, contents.epochs)
    _insert(session, GradientRow, run.id, contents.gradients)
    _insert(session, SignalRow, run.id, contents.signals)
    record_steps(session, run.id, contents.steps)
    import_landscapes(session, int(run.id), carried)
    return Imported(contents.path, int(run.id), True, contents.notes)


def import_landscapes(session: Session, run_id: int, carried: list[StoredLandscape]) -> None:
    """A run folder's landscapes as completed ones: around this run's checkpoint, or a fresh preset's net."""
    for stored in carried:
        config = stored.config if stored.config.preset else replace(stored.config, run_id=run_id)
        landscapes.add_finished(session, config, stored.points, device=str(stored.record.get("device") or "")[:32])


def _import(folders: list[tuple[Path, str | None]], course: Callable[[Path], CourseOptions] | None = None,
            keep_going: bool = False) -> ImportReport:  # fmt: skip
    """Read, check and write each (folder, group) in one transaction, one folder's rows in memory at a time.

    A malformed folder raises RunFolderError (nothing written), or with keep_going is listed and skipped. A
    database error rolls back every folder and is raised.
    """
    try:
        return _write(folders, course, keep_going)
    except IntegrityError:  # another import of the same uuid committed first: once more, that run is "already there"
        return _write(folders, course, keep_going)


def _write(folders: list[tuple[Path, str | None]], course: Callable[[Path], CourseOptions] | None,
           keep_going: bool) -> ImportReport:  # fmt: skip
    report = ImportReport()
    with session_scope() as session:
        for folder, group in folders:
            try:
                contents = read_run_folder(folder, course(folder) if course else None)
                carried = read_folder_landscapes(folder)  # landscape_1d/2d.csv, checked before this folder's write
            except RunFolderError as e:
                if not keep_going:
                    raise
                report.refused.append(Refused(folder, str(e)))
                continue
            report.imported.append(import_contents(session, contents, group, carried))
            del contents  # its rows are in the transaction now
    return report


def import_folders(paths: list[Path], course: CourseOptions | None = None, group: str | None = None,
                   keep_going: bool = False) -> ImportReport:  # fmt: skip
    """Import every run folder in `paths` (each a run folder or a folder of them) in one transaction;
    `course` says what course-framework folders ran (vgp_models/course_folder.py)."""
    folders = [f for p in paths for f in find_run_folders(Path(p))]
    return _import([(f, group) for f in folders], (lambda _: course) if course else None, keep_going)


def import_zip(data: bytes, group: str | None = None, max_bytes: int | None = None,
               course: dict[str, CourseOptions] | None = None) -> ImportReport:  # fmt: skip
    """The Runs page's upload: a zip of run folders, unpacked into a temporary folder, imported (each good
    folder; each bad one listed with its reason), removed. `course` maps a course-framework folder, named as
    the zip names it (unzip.course_folders), to what it ran. Every message names files as the zip does."""
    course = course or {}
    with tempfile.TemporaryDirectory(prefix="vgp-import-") as tmp:
        root = Path(tmp)
        try:
            extract_zip(data, root, max_zip_bytes() if max_bytes is None else max_bytes)
            folders = [(f, group) for f in find_run_folders(root)]
            report = _import(folders, lambda f: course.get(f.relative_to(root).as_posix(), CourseOptions()), True)
        except RunFolderError as e:  # name files as the zip does
            raise RunFolderError(_unrooted(str(e), tmp)) from None
    for item in [*report.imported, *report.refused]:  # name them as the zip does, not by the temporary folder
        item.folder = item.folder.relative_to(tmp)
    for refused in report.refused:
        refused.reason = _unrooted(refused.reason, tmp)
    return report


def _unrooted(text: str, tmp: str) -> str:
    return text.replace(f"{tmp}/", "").replace(tmp, "the zip")
