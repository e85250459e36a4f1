"""Streamlit helpers shared by the pages: the warehouse, the global filters, cached questions and charts."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import plotly.graph_objects as go
import polars as pl
import streamlit as st

from metrics import dashboard
from metrics.settings import load_settings
from metrics.summary import WarehouseSummary, warehouse_summary
from pipelines.warehouse import connect, resolve_db_path

CACHE_TTL_SECONDS = 60
STATUS_COLOURS = {
    "met": "green",
    "not_credibly_missed": "orange",
    "missed": "red",
    "small_sample": "gray",
    "no_target": "blue",
    "no_data": "gray",
}
SEVERITY_COLOURS = {"critical": "red", "major": "orange", "minor": "blue", "observe": "gray"}
# Words of the interface in both languages; metric labels come from the catalog.
TEXT = {
    "en": {
        "filters": "Filters",
        "dates": "Dates",
        "language": "Language",
        "no_data": "No data for these filters. Widen the date range or clear a filter.",
        "empty": "The warehouse is empty. Upload exports on the Upload page, or build the demo with `csat-radar demo`.",
    },
    "zh": {
        "filters": "筛选",
        "dates": "日期",
        "language": "语言",
        "no_data": "当前筛选条件下没有数据。请放宽日期范围或清除筛选。",
        "empty": "数据仓库为空。请在“上传”页面上传导出文件，或运行 `csat-radar demo` 生成演示数据。",
    },
}
PAGE_TITLES = {
    "overview": ("Overview", "总览"),
    "trends": ("Trends", "趋势"),
    "crisis_radar": ("Crisis radar", "危机雷达"),
    "service_levels": ("Service levels", "服务水平"),
    "complaints": ("Complaints", "投诉"),
    "upload": ("Upload", "上传"),
    "quarterly_review": ("Quarterly review", "季度回顾"),
}


def warehouse_path() -> Path:
    """The warehouse file this app serves (CSAT_RADAR_DB, set by ``csat-radar serve``)."""
    return resolve_db_path()


def language() -> str:
    return st.session_state.get("language", "en")


def text(key: str) -> str:
    return TEXT[language()][key]


def page_title(page: str) -> str:
    english, chinese = PAGE_TITLES[page]
    return chinese if language() == "zh" else english


def current_view() -> dashboard.View:
    """The global filters the sidebar holds (app.py keeps them in the session and the URL)."""
    segments = tuple(
        (dimension, tuple(sorted(st.session_state.get(f"filter_{dimension}") or ())))
        for dimension in dashboard.FILTER_DIMENSIONS
        if st.session_state.get(f"filter_{dimension}")
    )
    dates = st.session_state.get("filter_dates") or ()
    date_from = dates[0] if len(dates) > 0 else None
    date_to = dates[1] if len(dates) > 1 else None
    return dashboard.View(date_from, date_to, segments, language())


@st.cache_data(ttl=CACHE_TTL_SECONDS, show_spinner=False)
def load_summary(db_path: str) -> WarehouseSummary:
    # A short-lived connection per question: the command line can load while the app runs.
    con = connect(db_path)
    try:
        return warehouse_summary(con)
    finally:
        con.close()


@st.cache_data(ttl=CACHE_TTL_SECONDS, show_spinner="Computing…")
def ask(question: str, db_path: str, view: dashboard.View | None, *args: Any) -> Any:
    """Answer one question of ``metrics.dashboard`` (by function name), cached for a minute."""
    con = connect(db_path)
    try:
        function = getattr(dashboard, question)
        if view is None:
            return function(con, *args)
        return function(con, load_settings(), view, *args)
    finally:
        con.close()


def write(action, *args: Any, **kwargs: Any) -> Any:
    """Run an action that writes to the warehouse, then drop every cached answer."""
    con = connect(str(warehouse_path()))
    try:
        return action(con, *args, **kwargs)
    finally:
        con.close()
        st.cache_data.clear()


def read(function, *args: Any, **kwargs: Any) -> Any:
    """An uncached read (for records and single crises, which change with every action)."""
    con = connect(str(warehouse_path()))
    try:
        return function(con, *args, **kwargs)
    finally:
        con.close()


def db() -> str:
    return str(warehouse_path())


def stop_if_empty() -> WarehouseSummary:
    """Show the empty-warehouse message and end the page when there is nothing to show."""
    summary = load_summary(db())
    if summary.is_empty:
        st.info(text("empty"))
        st.stop()
    return summary


def table(frame: pl.DataFrame, name: str, key: str | None = None, **kwargs: Any) -> Any:
    """A table with its CSV download (formula-looking cells escaped)."""
    if frame.is_empty():
        st.caption(text("no_data"))
        return None
    from metrics.exports import csv_bytes

    shown = st.dataframe(frame, hide_index=True, width="stretch", key=key, **kwargs)
    st.download_button(
        f"Download {name} (CSV)",
        csv_bytes(frame),
        file_name=f"{name.replace(' ', '_')}.csv",
        mime="text/csv",
        key=f"download_{key or name}",
    )
    return shown


def style(figure: go.Figure, height: int = 360) -> go.Figure:
    """One look for every chart: room for labels, a font that carries Chinese."""
    figure.update_layout(
        height=height,
        margin={"l": 10, "r": 10, "t": 50, "b": 10},
        font={"family": "Inter, 'WenQuanYi Micro Hei', 'Noto Sans CJK SC', sans-serif"},
        # The legend sits under the plot so it never runs into the title.
        legend={"orientation": "h", "yanchor": "top", "y": -0.12, "x": 0},
    )
    return figure


def chart(figure: go.Figure, key: str | None = None) -> None:
    st.plotly_chart(style(figure), width="stretch", key=key)


def format_period(day: date | None) -> str:
    return "–" if day is None else f"{day:%Y-%m-%d}"
