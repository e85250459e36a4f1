"""Overview: what the warehouse holds (the KPI tiles arrive with the metrics catalog)."""

from __future__ import annotations

import streamlit as st

from pages._ui import load_summary, warehouse_path

st.title("CSAT Radar")
st.caption("Customer satisfaction, complaints and service levels against target, with early warning of crises.")

summary = load_summary(str(warehouse_path()))
if summary.is_empty:
    st.info(
        "The warehouse is empty. Load exports with "
        "`csat-radar ingest PATH --kind tickets|surveys|complaints`, or build the demo with `csat-radar demo`."
    )
else:
    tickets, surveys, complaints = st.columns(3)
    tickets.metric("Tickets", f"{summary.counts['tickets']:,}")
    surveys.metric("Survey answers", f"{summary.counts['survey_responses']:,}")
    complaints.metric("Complaints", f"{summary.counts['complaints']:,}")
    st.caption(
        f"Data from {summary.first_activity:%Y-%m-%d} to {summary.last_activity:%Y-%m-%d} (UTC), "
        f"{summary.counts['batches']:,} files loaded, {summary.counts['rejected_rows']:,} rows rejected."
    )

st.subheader("Latest loads")
if summary.recent_batches.is_empty():
    st.write("No file has been loaded yet.")
else:
    st.dataframe(summary.recent_batches, hide_index=True, width="stretch")
