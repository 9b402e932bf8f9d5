"""Runs from files: the shipped reference results (what an empty database offers) and a .zip of run folders.

Both go through worker.importer: every folder checked first, one transaction each, a folder imported twice
adds nothing. A failure is one line on the page.
"""

from __future__ import annotations

import streamlit as st

from dashboard.display import plain
from dashboard.errors import first_line, is_expected
from vgp_models.run_folder import RunFolderError
from worker import db, frames, importer

FLASH = "import_flash"


def _run(action, *args, by_name: bool = False) -> None:
    """Import, keep the outcome for the next run of the page (one line per folder, or the one error); with
    `by_name`, each line names the run rather than the folder (whose path is the server's)."""
    try:
        imported = action(*args)
    except Exception as error:  # noqa: BLE001 - expected ones become one line
        if not (isinstance(error, RunFolderError) or is_expected(error)):
            raise
        st.session_state[FLASH] = (False, "Nothing imported.", first_line(error))
        return
    added = sum(item.created for item in imported)
    detail = outcome_lines(imported) if by_name else "\n".join(item.message() for item in imported)
    st.session_state[FLASH] = (True, f"Imported {added} of {len(imported)} run(s).", detail)


def outcome_lines(imported: list[importer.Imported]) -> str:
    """One line per imported folder, by the run's name (never the server's path of the folder)."""
    with db.session_scope() as s:
        runs = frames.runs_frame(s, [i.run_id for i in imported])
    titles = dict(zip(runs["id"].astype(int), runs["title"]))
    return "\n".join(
        f"{titles.get(i.run_id, f'#{i.run_id}')}: " + ("imported" if i.created else "already there; nothing added")
        for i in imported
    )


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
        ok, headline, detail = notice
        (st.success if ok else st.error)(plain(headline), icon=":material/upload_file:")
        st.text(detail)  # folder names and messages come from the upload: plain text


def upload_panel() -> None:
    """The Runs page's import: a .zip of run folders (size-capped, unpacked safely), then the outcome."""
    cap_mb = importer.max_zip_bytes() / 2**20
    with st.expander("Import run folders", icon=":material/upload_file:"):
        upload = st.file_uploader(f"A .zip of run folders (`python -m vgp_models train --out`), up to {cap_mb:g} MB",
                                  type=["zip"], max_upload_size=max(1, int(cap_mb)), key="import_zip")  # fmt: skip
        if st.button("Import", key="import_zip_go", disabled=upload is None) and upload is not None:
            with st.spinner("Importing…"):
                _run(importer.import_zip, upload.getvalue())
            st.rerun()
    show_outcome()
