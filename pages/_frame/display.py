"""How the pages show things: status and severity colours, tables with their download, charts, the empty message."""

from __future__ import annotations

from typing import Any

import plotly.graph_objects as go
import polars as pl
import streamlit as st

from metrics.reports.exports import csv_bytes
from metrics.views.summary import WarehouseSummary
from pages._frame.language import t, text
from pages._frame.questions import load_summary
from pages._frame.warehouse import db
from pipelines.stage.personal import mask

STATUS_COLOURS = {
    "met": "green",
    "not_credibly_missed": "orange",
    "missed": "red",
    "small_sample": "gray",
    "no_target": "blue",
    "no_data": "gray",
}
SEVERITY_COLOURS = {"critical": "red", "major": "orange", "minor": "blue", "observe": "gray"}


def stop_if_empty() -> WarehouseSummary:
    """Show the empty-warehouse message and end the page when there is nothing to show."""
    summary = load_summary(db())
    if summary.is_empty:
        st.info(text("empty"))
        st.stop()
    return summary


def table(frame: pl.DataFrame, name: str, key: str | None = None, customer_data: bool = True, **kwargs: Any) -> Any:
    """A table with its CSV download (formula-looking cells escaped); customers' personal data masked.

    ``customer_data=False`` is for the staff's own records (users, the audit log), shown whole.
    """
    if frame.is_empty():
        st.caption(text("no_data"))
        return None
    if customer_data:
        frame = mask(frame)  # names, e-mail addresses and phone numbers, on screen and in the download
    shown = st.dataframe(frame, hide_index=True, width="stretch", key=key, **kwargs)
    st.download_button(
        t("Download {name} (CSV)").format(name=name),
        csv_bytes(frame),
        file_name=f"{name.replace(' ', '_')}.csv",
        mime="text/csv",
        key=f"download_{key or name}",
    )
    return shown


def style(figure: go.Figure, height: int = 360) -> go.Figure:
    """One look for every chart: room for labels, a font that carries Chinese.

    A figure from metrics.views.figures places its own legend, margins and height (above the
    plot, clear of axis titles and long tick labels); only the others get these defaults.
    """
    figure.update_layout(font={"family": "Inter, 'WenQuanYi Micro Hei', 'Noto Sans CJK SC', sans-serif"})
    if figure.layout.height is None:
        figure.update_layout(height=height)
    if figure.layout.margin.t is None:
        figure.update_layout(margin={"l": 10, "r": 10, "t": 50, "b": 10})
    if figure.layout.legend.orientation is None:
        # The legend sits under the plot so it never runs into the title.
        figure.update_layout(legend={"orientation": "h", "yanchor": "top", "y": -0.12, "x": 0})
    return figure


def chart(figure: go.Figure, key: str | None = None) -> None:
    st.plotly_chart(style(figure), width="stretch", key=key)
