"""Runs from files: the shipped reference results (what an empty database offers) and a .zip of run folders.

Both go through worker.importer: every folder checked first, one transaction each, a folder imported twice
adds nothing. A failure is one line on the page.
"""

from __future__ import annotations

import streamlit as st

from dashboard.display import plain
from dashboard.errors import first_line, is_expected
from vgp_models.run_folder import RunFolderError
from worker import importer

FLASH = "import_flash"


def _run(action, *args) -> None:
    """Import, keep the outcome for the next run of the page (one line per folder, or the one error)."""
    try:
        imported = action(*args)
    except Exception as error:  # noqa: BLE001 - expected ones become one line
        if not (isinstance(error, RunFolderError) or is_expected(error)):
            raise
        st.session_state[FLASH] = (False, "Nothing imported.", first_line(error))
        return
    added = sum(item.created for item in imported)
    detail = "\n".join(item.message() for item in imported)
    st.session_state[FLASH] = (True, f"Imported {added} of {len(imported)} run(s).", detail)


def reference_offer() -> None:
    """On an empty database: the button that imports the shipped results (nothing happens unasked)."""
    sets = importer.reference_sets()
    if not sets:
        return
    names = ", ".join(s.name for s in sets)
    if st.button("Load the reference results", type="primary", icon=":material/download:", key="load_reference",
                 help=f"Import the runs shipped with VGP Lab ({names}) into this database"):  # fmt: skip
        with st.spinner("Importing the reference results…"):
            _run(importer.import_reference)
        st.switch_page("views/runs.py")


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
    if notice := st.session_state.pop(FLASH, None):
        ok, headline, detail = notice
        (st.success if ok else st.error)(plain(headline), icon=":material/upload_file:")
        st.text(detail)  # folder names and messages come from the upload: plain text
