"""Runs from files: the shipped reference results (what an empty database offers) and a .zip of run folders.

Both go through worker.importer: each folder checked, one transaction for the whole import, a folder imported
twice adds nothing. The upload asks what each course-framework folder ran (preset and learning rate,
suggested from its name), imports each good folder and lists each bad one with its reason; a failure of the
whole (a hostile zip, the database) is one line, and then nothing was imported.
"""

from __future__ import annotations

from pathlib import PurePosixPath

import streamlit as st

from dashboard.display import plain
from dashboard.errors import first_line, is_expected
from vgp_models.config import PRESETS
from vgp_models.course_folder import MIN_LR, CourseOptions, suggest
from vgp_models.run_folder import RunFolderError
from worker import db, frames, importer, unzip

FLASH = "import_flash"
MAX_COURSE_FOLDERS = 50  # asked about on the page; a zip with more is for `python -m worker import`


def _run(action, *args, by_name: bool = False) -> None:
    """Import, keep the outcome for the next run of the page (one line per folder, or the one error); with
    `by_name`, each line names the run rather than the folder (whose path is the server's)."""
    try:
        report = action(*args)
    except Exception as error:  # noqa: BLE001 - expected ones become one line
        if not (isinstance(error, RunFolderError) or is_expected(error)):
            raise
        why = "" if isinstance(error, RunFolderError) else " The database refused it; every folder was rolled back."
        st.session_state[FLASH] = ("error", f"Nothing imported.{why}", first_line(error))
        return
    found, refused = len(report.imported), len(report.refused)
    if not refused:
        outcome = ("success", f"Imported {report.added} of {found} run(s).")
    elif found:
        outcome = ("warning", f"Imported {report.added} of {found} run(s); {refused} folder(s) refused.")
    else:
        outcome = ("error", f"Nothing imported: {refused} folder(s) refused.")
    lines = outcome_lines(report.imported) if by_name else report.lines()
    st.session_state[FLASH] = (*outcome, "\n".join(lines))


def outcome_lines(imported: list[importer.Imported]) -> list[str]:
    """One line per imported folder, by the run's name (never the server's path of the folder)."""
    with db.session_scope() as s:
        runs = frames.runs_frame(s, [i.run_id for i in imported])
    titles = dict(zip(runs["id"].astype(int), runs["title"]))
    return [
        f"{titles.get(i.run_id, f'#{i.run_id}')}: " + ("imported" if i.created else "already there; nothing added")
        for i in imported
    ]


def reference_offer() -> None:
    """On an empty database: the button that imports the shipped results (nothing happens unasked), then opens
    Compare on their VGG08 against their VGG38, the outcome on top."""
    sets = importer.reference_sets()
    if not sets:
        return
    names = ", ".join(s.name for s in sets)
    if st.button("Load the reference results", type="primary", icon=":material/download:", key="load_reference",
                 help=f"Import the runs shipped with VGP Lab ({names}) into this database"):  # fmt: skip
        with st.spinner("Importing the reference results…"):
            _run(importer.import_reference, by_name=True)
        st.session_state.pop("compare_runs", None)  # Compare picks its default pair from the new runs
        st.switch_page("views/compare.py")


def welcome() -> None:
    """The first page on an empty database: what the shipped results are, and the button that loads them."""
    if not importer.reference_sets():
        return
    with st.container(border=True):
        st.markdown("**No runs yet.** Start from the reference results: Table 1 trained by VGP Lab (8 epochs a "
                    "row, bf16, on a 2-core CPU). Loading them opens Compare on VGG08 against VGG38: the healthy "
                    "network beside the one whose gradients vanish.")  # fmt: skip
        reference_offer()


def show_outcome() -> None:
    """The last import's outcome, once: a headline, then one plain-text line per folder."""
    if notice := st.session_state.pop(FLASH, None):
        kind, headline, detail = notice
        show = {"success": st.success, "warning": st.warning, "error": st.error}[kind]
        show(plain(headline), icon=":material/upload_file:")
        st.text(detail)  # folder names and messages come from the upload: plain text


def course_form(data: bytes) -> dict[str, CourseOptions] | None:
    """What each course-framework folder in the upload ran, as the user confirms it; None while a preset is
    unchosen. A zip that cannot be read asks nothing here: the import says why."""
    try:
        folders = unzip.course_folders(data, importer.max_zip_bytes())
    except RunFolderError:
        return {}
    if not folders:
        return {}
    st.markdown("**Course-framework folders** (summary.csv without config.json)")
    st.caption("Say what each ran: the preset and learning rate its name suggests are filled in. They carry no "
               "gradient data (the framework writes none): such a run has curves and its test result, no gradient "
               "flow. One that stopped before its test imports as interrupted.")  # fmt: skip
    if len(folders) > MAX_COURSE_FOLDERS:
        st.warning(f"{len(folders):d} course-framework folders: the first {MAX_COURSE_FOLDERS:d} are asked about here, "
                   "the others are refused; `python -m worker import` takes any number.")  # fmt: skip
    options: dict[str, CourseOptions] = {}
    unchosen = False
    presets = sorted(PRESETS)
    for i, name in enumerate(folders[:MAX_COURSE_FOLDERS]):
        preset, lr = suggest(PurePosixPath(name).name)
        left, middle, right = st.columns([3, 2, 2], vertical_alignment="bottom")
        left.text(name)  # the zip's name for it: plain text
        chosen = middle.selectbox("Preset", presets, index=presets.index(preset) if preset else None,
                                  placeholder="Choose what it ran", key=f"course_preset_{i}_{name}")  # fmt: skip
        rate = right.number_input("Learning rate", min_value=MIN_LR, max_value=10.0, value=lr or 1e-3, step=1e-4,
                                  format="%g", key=f"course_lr_{i}_{name}")  # fmt: skip
        unchosen |= chosen is None
        options[name] = CourseOptions(chosen, float(rate))
    return None if unchosen else options


def upload_panel() -> None:
    """The Runs page's import: a .zip of run folders (size-capped, unpacked safely), then the outcome."""
    cap_mb = importer.max_zip_bytes() / 2**20
    with st.expander("Import run folders", icon=":material/upload_file:"):
        label = "A .zip of run folders (`python -m vgp_models train --out`, or the course framework's), "
        label += f"up to {cap_mb:g} MB"
        upload = st.file_uploader(label, type=["zip"], max_upload_size=max(1, int(cap_mb)), key="import_zip")
        course = course_form(upload.getvalue()) if upload is not None else {}
        if course is None:
            st.caption("Choose a preset for each course-framework folder to import.")
        if st.button("Import", key="import_zip_go", disabled=upload is None or course is None) and upload is not None:
            with st.spinner("Importing…"):
                _run(importer.import_zip, upload.getvalue(), None, None, course)
            st.rerun()
    show_outcome()
