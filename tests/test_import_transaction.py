"""One transaction for a whole import: a folder the database refuses rolls back every other; the Runs page's
upload imports each good folder and lists each bad one with its reason. An imported run is never resumed (it
has no checkpoint), by hand or automatically; Rerun queues its config as a new run."""

from __future__ import annotations

import io
import json
import shutil
import zipfile
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from dashboard import run_actions
from tests.course_support import course_folder, row
from tests.dashboard_support import add_run, open_page
from vgp_models.course_folder import CourseOptions
from worker import db, importer, reconcile, schema, submission

SQLITE_TRIGGER = """CREATE TRIGGER refuse_poison BEFORE INSERT ON runs WHEN NEW.name = 'poison'
BEGIN SELECT RAISE(ABORT, 'poison refused'); END"""
POSTGRES_TRIGGER = [
    """CREATE FUNCTION refuse_poison() RETURNS trigger AS $$ BEGIN
    IF NEW.name = 'poison' THEN RAISE EXCEPTION 'poison refused'; END IF; RETURN NEW; END $$ LANGUAGE plpgsql""",
    "CREATE TRIGGER refuse_poison BEFORE INSERT ON runs FOR EACH ROW EXECUTE FUNCTION refuse_poison()",
]


def zipped(root: Path) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for path in sorted(root.rglob("*")):
            if path.is_file():
                archive.write(path, str(path.relative_to(root)))
    return buffer.getvalue()


def runs() -> list[schema.Run]:
    with db.session_scope() as session:
        found = list(session.query(schema.Run).order_by(schema.Run.id))
        session.expunge_all()
        return found


def copy_run(reference_results: Path, dest: Path, **record) -> Path:
    folder = Path(shutil.copytree(reference_results / "demo" / "vgg08-lr0.001", dest))
    old = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**old, **record}))
    return folder


def test_a_folder_the_database_refuses_rolls_back_the_whole_import(store_url, reference_results, tmp_path):
    copy_run(reference_results, tmp_path / "zip" / "a-good")
    copy_run(reference_results, tmp_path / "zip" / "b-poison", label="poison",
             run_uuid="0b0c3f7e-8f6e-4a3e-9a53-0d3a8f5e2b11")  # fmt: skip
    with db.session_scope() as session:
        statements = [SQLITE_TRIGGER] if session.get_bind().dialect.name == "sqlite" else POSTGRES_TRIGGER
        for statement in statements:
            session.execute(text(statement))
    with pytest.raises(SQLAlchemyError, match="poison refused"):
        importer.import_zip(zipped(tmp_path / "zip"))
    assert runs() == []  # a-good was written first, and rolled back with b-poison


def test_the_upload_imports_each_good_folder_and_lists_each_bad_one(store_url, reference_results, tmp_path):
    copy_run(reference_results, tmp_path / "zip" / "a-good")
    copy_run(reference_results, tmp_path / "zip" / "b-bad", best_val_acc={"a": 1})
    course_folder(tmp_path / "zip" / "c-course", [row(e) for e in range(1, 3)])
    report = importer.import_zip(zipped(tmp_path / "zip"), course={"c-course": CourseOptions("vgg38-bn-rc", 1e-2)})
    assert report.lines() == [
        "a-good: imported as run #1",
        "c-course: imported as run #2 (no gradient data: the course framework writes none)",
        "b-bad/config.json: best_val_acc is {'a': 1}, not a finite number in 0..1",
    ]
    assert [r.name for r in runs()] == ["VGG08 x8", "VGG38 BN+RC"]


def test_an_imported_run_is_never_resumed_and_reruns_as_a_new_run(redis_env, reference_results, tmp_path):
    cancelled = copy_run(reference_results, tmp_path / "cancelled", status="cancelled", message="stopped by hand")
    stopped = course_folder(tmp_path / "stopped", [row(e) for e in range(1, 4)], test=False)
    importer.import_folders([cancelled])
    importer.import_folders([stopped], CourseOptions("vgg08", 1e-3))
    with pytest.raises(ValueError, match="^run 1 was imported from a run folder and has no checkpoint to resume; "
                                         "Rerun queues its config as a new run$"):  # fmt: skip
        submission.resume_run(1)
    ok, line = run_actions.resume([1, 2])
    assert not ok and line.startswith("Could not resume: #1: run 1 was imported") and "#2: run 2 was imported" in line
    reconcile.reconcile()  # the interrupted import is not queued again automatically
    assert [(r.status.value, r.origin.value) for r in runs()] == [
        ("cancelled", "imported"), ("interrupted", "imported")]  # fmt: skip
    assert run_actions.rerun([1]) == (True, "Queued again #1.")
    first, _, new = runs()
    assert (new.config, new.status.value, new.origin.value) == (first.config, "queued", "queued")


def test_the_run_page_offers_no_resume_for_an_imported_run(env, reference_results, tmp_path):
    importer.import_folders([copy_run(reference_results, tmp_path / "cancelled", status="cancelled")])
    queued = add_run("vgg08", status="cancelled")
    assert "Resume" not in [b.label for b in open_page("views/run.py", run=1).button]
    assert "Resume" in [b.label for b in open_page("views/run.py", run=queued).button]
