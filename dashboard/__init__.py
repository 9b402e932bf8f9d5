"""The Streamlit app: `streamlit run dashboard/app.py`. Pages in views/, chart builders in charts.py."""
