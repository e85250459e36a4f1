"""Trends: any KPI over time at any grain, with target, interval, control limits, forecast and STL."""

from __future__ import annotations

from datetime import timedelta

import polars as pl
import streamlit as st

from metrics.kpis.catalog import GRAINS, catalog
from metrics.kpis.settings import load_settings
from metrics.views import dashboard, figures
from metrics.views.dashboard import record_source, records_behind
from pages._frame.display import chart, stop_if_empty, table
from pages._frame.entry import enter
from pages._frame.language import page_title, t, text
from pages._frame.questions import ask, current_view, read
from pages._frame.warehouse import db

enter()  # the gate and the navigation first, however this page was reached
st.title(page_title("trends"))
stop_if_empty()
view = current_view()

names = [name for name, m in catalog().items() if m.kind != "backlog"]
left, middle, right = st.columns(3)
name = left.selectbox(t("KPI"), names, format_func=view.label, key="trend_metric")
grain = middle.selectbox(t("Grain"), GRAINS, index=GRAINS.index("week"), format_func=t, key="trend_grain")
splits = ask(dashboard.split_dimensions, db(), view)  # only what the data records: no split into one "(none)"
split = right.selectbox(t("Split by"), ["(none)", *splits], format_func=t, key="trend_split")
dimension = None if split == "(none)" else split

series = ask(dashboard.kpi_series, db(), view, name, grain, dimension)
if series.is_empty():
    st.info(text("no_data"))
    st.stop()

figure = figures.kpi_trend(series, view, name, grain, dimension)
chart(figure, key="trend_chart")

if dimension is None and grain == "week":
    with st.expander(t("Forecast and seasonal decomposition (STL)")):
        trend = ask(dashboard.weekly_trend_view, db(), view, name)
        if trend is None:
            st.caption(t("Too few complete weeks for a forecast."))
        else:
            st.write(trend["summary"])
            chart(figures.forecast(trend, view, name), key="forecast_chart")
            if trend["components"].height:
                chart(figures.stl(trend["components"], view, name), key="stl_chart")

with st.expander(t("Records behind a period")):
    periods = series.sort("period_start", descending=True)["period_start"].unique(maintain_order=True).to_list()
    period = st.selectbox(t("Period"), periods, key="trend_records_period")
    segment = None
    if dimension:
        segment = st.selectbox(t(dimension), sorted(series["segment"].unique().to_list()), key="trend_records_segment")
    period_end = series.filter(pl.col("period_start") == period)["period_end"][0] - timedelta(days=1)
    behind = read(records_behind, load_settings(), view, name, grain, dimension, segment, (period, period_end))
    st.caption(
        t("{n} most recent {kind} of that period (at most 500).").format(
            n=f"{behind.height:,}", kind=t(record_source(name))
        )
    )
    table(behind, f"{record_source(name)} {period}", key="trend_records")

for reason in sorted(series["reason"].drop_nulls().unique().to_list()):
    st.caption(f"No data in {series.filter(pl.col('reason') == reason).height} of the periods shown: {reason}")
table(series.select("period_start", "segment", "value", "ci_low", "ci_high", "n", "target", "status", "complete",
                    "reason"), f"{name} by {grain}", key="trend_table",
      value_format=catalog()[name].format)  # fmt: skip
