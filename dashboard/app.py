"""VGP Lab's pages: it routes to the pages in views/ and frames them. `streamlit run dashboard/server.py` serves
it behind a same-origin check on the WebSocket (dashboard/origin.py)."""

import sys
from pathlib import Path

# `streamlit run` puts only this folder on sys.path; the repository root holds dashboard/, worker/, vgp_models/.
ROOT = str(Path(__file__).resolve().parents[1])
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

import streamlit as st  # noqa: E402

from dashboard import gate, outages, reconcile  # noqa: E402

if not gate.password_ok():  # VGP_DASHBOARD_PASSWORD, when set, guards every page
    st.stop()
if not gate.settings_ok():  # a bad setting stops every page with one line, before anything is written
    st.stop()
outages.database_banner()  # a database outage: one warning line on top, not a traceback
reconcile.reconcile_on_page_load()  # the database is the truth: rebuild what Redis lost, interrupt what died

page = st.navigation(
    [
        st.Page("views/launch.py", title="Launch", icon=":material/rocket_launch:", default=True),
        st.Page("views/runs.py", title="Runs", icon=":material/table_rows:"),
        st.Page("views/run.py", title="Run", icon=":material/monitoring:"),
        st.Page("views/compare.py", title="Compare", icon=":material/compare_arrows:"),
        st.Page("views/results.py", title="Results", icon=":material/table_chart:"),
        st.Page("views/sweep.py", title="Depth sweep", icon=":material/stacked_line_chart:"),
        st.Page("views/landscape.py", title="Loss landscape", icon=":material/landscape:"),
    ]
)
st.set_page_config(page_title="VGP Lab", page_icon=":material/ssid_chart:", layout="wide")
page.run()
