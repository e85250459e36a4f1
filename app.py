"""CSAT Radar's Streamlit entry point: routes to the pages and frames them with the sidebar."""

from __future__ import annotations

import streamlit as st

from pages._ui import load_summary, warehouse_path

st.set_page_config(page_title="CSAT Radar", page_icon="📡", layout="wide")

PAGES = [
    st.Page("pages/overview.py", title="Overview", icon="📊", default=True),
]

navigation = st.navigation(PAGES)

with st.sidebar:
    st.markdown("### CSAT Radar")
    summary = load_summary(str(warehouse_path()))
    st.caption(f"Warehouse: `{warehouse_path()}`")
    if summary.first_activity and summary.last_activity:
        st.caption(f"Data: {summary.first_activity:%Y-%m-%d} to {summary.last_activity:%Y-%m-%d} (UTC)")
    st.caption(f"Last load: {summary.last_load:%Y-%m-%d %H:%M} UTC" if summary.last_load else "Last load: none yet")

navigation.run()
