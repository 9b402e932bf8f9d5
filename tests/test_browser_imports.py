"""In a real browser: an empty database offers "Load the reference results" and loads them on a click; the Runs
page's .zip import takes run folders once, and refuses a zip with `../` paths and an oversized one; it asks
what each course-framework folder ran (suggested from its name), imports each good folder and lists each bad one.

`services` (tests/browser_helpers.py) runs Streamlit and a worker on a temp store; `reference_results` is a
results/ folder of two headless runs. Skipped only without /usr/bin/chromium or Redis."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest

from tests.browser_helpers import open_dashboard
from tests.course_support import course_folder, row
from tests.run_folder_support import zip_of
from worker import db, store

pytestmark = [pytest.mark.pages, pytest.mark.timeout(400)]
CAP_MB = 1


@pytest.fixture
def shipped(reference_results, monkeypatch):
    """The dashboard's reference results and upload cap, set before `services` starts Streamlit."""
    monkeypatch.setenv("VGP_REFERENCE_DIR", str(reference_results))
    monkeypatch.setenv("VGP_IMPORT_MAX_MB", str(CAP_MB))
    return reference_results


def run_names() -> list[str]:
    with db.session_scope() as session:
        return sorted(r.name for r in store.list_runs(session))


def open_import_panel(page) -> None:
    """Open the "Import run folders" expander unless it is open already (a click on an open one closes it)."""
    dropzone = page.locator("[data-testid='stFileUploaderDropzone']")
    if not dropzone.is_visible():
        page.get_by_text("Import run folders").click()
    dropzone.wait_for(state="visible", timeout=30_000)


def upload(page, name: str, data: bytes) -> None:
    """Put one file in the uploader, replacing what it held, and wait until the page shows it."""
    from playwright.sync_api import expect

    open_import_panel(page)
    for remove in page.get_by_role("button", name=re.compile(r"^Remove ")).all():
        remove.click()
    page.locator("[data-testid='stFileUploaderDropzoneInput']").set_input_files(
        {"name": name, "mimeType": "application/zip", "buffer": data}
    )
    expect(page.get_by_text(name, exact=True)).to_be_visible(timeout=30_000)


def import_upload(page) -> None:
    """Click Import once the rerun after the upload has enabled it."""
    from playwright.sync_api import expect

    button = page.get_by_role("button", name="Import", exact=True)
    expect(button).to_be_enabled(timeout=30_000)
    button.click()


def test_empty_database_loads_the_reference_results_then_zips_import_safely(shipped, services):
    from playwright.sync_api import expect

    base, logs = services
    with open_dashboard(base, logs) as page:
        assert run_names() == []
        page.get_by_role("link", name="Runs", exact=True).click()
        expect(page.get_by_text("No runs yet.")).to_be_visible(timeout=30_000)
        assert run_names() == []  # offered, not done unasked
        page.get_by_role("button", name="Load the reference results").click()
        expect(page.get_by_text("Imported 2 of 2 run(s).")).to_be_visible(timeout=60_000)
        expect(page.get_by_role("heading", name="Compare runs")).to_be_visible(timeout=30_000)  # VGG08 vs VGG38
        page.get_by_role("link", name="Runs", exact=True).click()
        expect(page.locator("[data-testid='stDataFrame']")).to_be_visible(timeout=30_000)
        assert run_names() == ["VGG08 x8", "VGG38 x8"]
        expect(page.get_by_role("button", name="Load the reference results")).to_have_count(0)

        upload(page, "evil.zip", zip_of(shipped / "demo", {"demo/../../escaped.csv": b"x"}))
        import_upload(page)
        expect(page.get_by_text("Nothing imported.")).to_be_visible(timeout=30_000)
        expect(page.get_by_text("'demo/../../escaped.csv', a path outside its folder")).to_be_visible()
        assert not (shipped.parent / "escaped.csv").exists()

        upload(page, "big.zip", os.urandom(CAP_MB * 2**20 + 1))  # random bytes do not compress
        expect(page.get_by_text(f"File must be {CAP_MB}.0MB or smaller.")).to_be_visible(timeout=30_000)
        assert run_names() == ["VGG08 x8", "VGG38 x8"]  # refused before any byte reached the importer

        upload(page, "demo.zip", zip_of(shipped / "demo"))
        import_upload(page)
        expect(page.get_by_text("Imported 0 of 2 run(s).")).to_be_visible(timeout=30_000)
        expect(page.get_by_text("demo/vgg08-lr0.001: already imported as run #1; nothing added")).to_be_visible()
        assert run_names() == ["VGG08 x8", "VGG38 x8"]
        assert page.locator("[data-testid='stException']").count() == 0


def test_course_framework_folders_import_with_a_confirmed_preset_and_lr(shipped, services, tmp_path):
    """A zip of a run folder, a course-framework folder (the preset its name says, the lr typed in) and a broken
    folder: the good two are imported, the bad one is listed with its reason, and the page says that course
    folders carry no gradient data."""
    from playwright.sync_api import expect

    root = tmp_path / "upload"
    shutil.copytree(shipped / "demo" / "vgg08-lr0.001", root / "vgg08")
    course_folder(root / "VGG_38_BN_RC_experiment", [row(e) for e in range(1, 4)], line_end="\r\r\n")
    broken = Path(shutil.copytree(shipped / "demo" / "vgg38-lr0.001", root / "broken"))
    (broken / "gradients.csv").unlink()
    base, logs = services
    with open_dashboard(base, logs) as page:
        page.get_by_role("link", name="Runs", exact=True).click()
        upload(page, "course.zip", zip_of(root))
        expect(page.get_by_text("carry no gradient data", exact=False)).to_be_visible(timeout=30_000)
        expect(page.get_by_text("upload/VGG_38_BN_RC_experiment", exact=True)).to_be_visible()
        preset = page.get_by_role("combobox", name="Preset")
        expect(preset).to_have_value("vgg38-bn-rc")  # suggested from the folder's name
        rate = page.get_by_label("Learning rate")
        rate.fill("0.01")
        rate.press("Enter")
        import_upload(page)
        expect(page.get_by_text("Imported 2 of 2 run(s); 1 folder(s) refused.")).to_be_visible(timeout=60_000)
        expect(page.get_by_text("upload/broken/gradients.csv: missing", exact=False)).to_be_visible()
        expect(page.get_by_text("no gradient data: the course framework writes none", exact=False)).to_be_visible()
        assert page.locator("[data-testid='stException']").count() == 0
    with db.session_scope() as session:
        runs = {r.name: r for r in store.list_runs(session)}
        assert sorted(runs) == ["VGG08 x8", "VGG38 BN+RC"]
        course = runs["VGG38 BN+RC"].run_config()
        assert (course.lr, course.epochs, runs["VGG38 BN+RC"].epochs_done) == (0.01, 3, 3)
