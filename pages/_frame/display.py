"""How the pages show things: status and severity colours, tables with their download, charts, the empty message."""

from __future__ import annotations

from typing import Any

import plotly.graph_objects as go
import polars as pl
import streamlit as st

from metrics.kpis.presentation import present, status_colours
from metrics.reports.exports import csv_bytes
from metrics.views.summary import WarehouseSummary
from pages._frame.language import language, t, text
from pages._frame.questions import load_summary
from pages._frame.warehouse import db
from pipelines.stage.personal import mask

# Streamlit's colour names for badges and markdown (tables colour through metrics.kpis.presentation).
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


def table(
    frame: pl.DataFrame,
    name: str,
    key: str | None = None,
    customer_data: bool = True,
    value_format: str | None = None,
    download: bool = True,
    **kwargs: Any,
) -> Any:
    """A table as people read it (``metrics.kpis.presentation``), with its CSV download; personal data masked.

    The screen shows worded headers and formatted cells, statuses as coloured words; the download
    keeps the machine names and raw numbers, so a spreadsheet sums and sorts them.
    ``value_format`` (a catalog format) is how a KPI's value, interval and target columns read.
    ``customer_data=False`` is for the staff's own records (users, the audit log), shown whole;
    ``download=False`` for a table with nothing to take away (a crisis's history, the targets).
    """
    if frame.is_empty():
        st.caption(text("no_data"))
        return None
    if customer_data:
        frame = mask(frame)  # names, e-mail addresses and phone numbers, on screen and in the download
    shown = present(frame, language(), value_format)
    # Whole numbers stay numbers (they sort as such) and read with thousands separators.
    counts = {c: st.column_config.NumberColumn(format="localized") for c, d in shown.schema.items() if d.is_integer()}
    colours = status_colours(frame, language())
    # A status is a few words ("below target, but within the uncertainty"): room enough not to cut them.
    statuses = {c: st.column_config.TextColumn(width="medium") for c in colours if c in shown.columns}
    config = counts | statuses | kwargs.pop("column_config", {})
    shown_table = st.dataframe(coloured(shown, colours), hide_index=True,
                               width="stretch", key=key, column_config=config, **kwargs)  # fmt: skip
    if not download:
        return shown_table
    st.download_button(
        t("Download {name} (CSV)").format(name=name),
        csv_bytes(frame),
        file_name=f"{name.replace(' ', '_')}.csv",
        mime="text/csv",
        key=f"download_{key or name}",
    )
    return shown_table


def coloured(shown: pl.DataFrame, colours: dict[str, dict[str, str]]) -> Any:
    """The shown table with its status words in their colours (a pandas Styler), or as it is without statuses."""
    present_columns = {column: palette for column, palette in colours.items() if column in shown.columns}
    if not present_columns:
        return shown
    styler = shown.to_pandas().style
    # A Styler's own text wins over the column formats: whole numbers keep their thousands separators.
    whole = [c for c, d in shown.schema.items() if d.is_integer()]
    styler = styler.format("{:,}", subset=whole) if whole else styler
    for column, palette in present_columns.items():
        styler = styler.map(lambda word, p=palette: f"color: {p[word]}; font-weight: 600" if word in p else "",
                            subset=[column])  # fmt: skip
    return styler


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
