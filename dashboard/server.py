"""The dashboard's server: `streamlit run dashboard/server.py` (the Procfile's web line) serves app.py with
Streamlit's own server, behind `dashboard.origin.SameOriginWebSockets` (a WebSocket only from its own origin)."""

import sys
from pathlib import Path

ROOT = str(Path(__file__).resolve().parents[1])  # as in app.py: `streamlit run` puts only dashboard/ on sys.path
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

import streamlit as st  # noqa: E402
from starlette.middleware import Middleware  # noqa: E402

from dashboard.origin import SameOriginWebSockets  # noqa: E402

app = st.App(Path(__file__).with_name("app.py"), middleware=[Middleware(SameOriginWebSockets)])
