"""Streamlit helpers shared by the pages: the warehouse in use and cached, read-only queries."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from metrics.summary import WarehouseSummary, warehouse_summary
from pipelines.warehouse import connect, resolve_db_path

CACHE_TTL_SECONDS = 60


def warehouse_path() -> Path:
    """The warehouse file this app serves (CSAT_RADAR_DB, set by ``csat-radar serve``)."""
    return resolve_db_path()


@st.cache_data(ttl=CACHE_TTL_SECONDS, show_spinner=False)
def load_summary(db_path: str) -> WarehouseSummary:
    # A short-lived connection per question: the command line can load while the app runs.
    con = connect(db_path)
    try:
        return warehouse_summary(con)
    finally:
        con.close()
