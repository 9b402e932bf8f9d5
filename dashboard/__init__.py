"""The Streamlit app: `streamlit run dashboard/server.py` (app.py behind a same-origin check). Pages in views/,
chart builders in charts/."""
