"""Trends: any KPI over time at any grain, with target, interval, control limits, forecast and STL."""

from __future__ import annotations

from datetime import timedelta

import plotly.graph_objects as go
import polars as pl
import streamlit as st

from metrics.kpis.catalog import GRAINS, catalog
from metrics.kpis.formats import format_value
from metrics.kpis.settings import load_settings
from metrics.views import dashboard
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
grain = middle.selectbox(t("Grain"), GRAINS, index=GRAINS.index("week"), key="trend_grain")
splits = ask(dashboard.split_dimensions, db(), view)  # only what the data records: no split into one "(none)"
split = right.selectbox(t("Split by"), ["(none)", *splits], key="trend_split")
dimension = None if split == "(none)" else split

series = ask(dashboard.kpi_series, db(), view, name, grain, dimension)
if series.is_empty():
    st.info(text("no_data"))
    st.stop()

figure = go.Figure()
for segment in sorted(series["segment"].unique().to_list()):
    part = series.filter(pl.col("segment") == segment).sort("period_start")
    label = view.label(name) if dimension is None else segment
    if dimension is None and part["ci_low"].null_count() < part.height:
        figure.add_trace(go.Scatter(x=part["period_start"], y=part["ci_high"], line={"width": 0}, showlegend=False,
                                    hoverinfo="skip"))  # fmt: skip
        figure.add_trace(go.Scatter(x=part["period_start"], y=part["ci_low"], fill="tonexty", line={"width": 0},
                                    name="95% interval", fillcolor="rgba(99,110,250,0.15)"))  # fmt: skip
    figure.add_trace(go.Scatter(x=part["period_start"], y=part["value"], mode="lines+markers", name=label))
    if dimension is None and part["ucl"].null_count() < part.height:
        figure.add_trace(go.Scatter(x=part["period_start"], y=part["ucl"], name="control limits", line={"dash": "dot",
                                    "color": "gray"}))  # fmt: skip
        figure.add_trace(go.Scatter(x=part["period_start"], y=part["lcl"], showlegend=False, line={"dash": "dot",
                                    "color": "gray"}))  # fmt: skip
        outside = part.filter(pl.col("above_limit") | pl.col("below_limit"))
        marker = {"color": "red", "size": 10, "symbol": "x"}
        figure.add_trace(
            go.Scatter(x=outside["period_start"], y=outside["value"], mode="markers", name="outside", marker=marker)
        )
target = series["target"].drop_nulls()
if target.len():
    target_label = f"target {format_value(target[0], catalog()[name].format)}"
    figure.add_hline(y=target[0], line_dash="dash", line_color="green", annotation_text=target_label)
# Periods cut short at either end (data or dates starting mid-period, the period in progress) are greyed
# one stretch at a time, so the whole periods between them stay clear.
for stretch in dashboard.incomplete_stretches(series).iter_rows(named=True):
    figure.add_vrect(x0=stretch["start"], x1=stretch["end"], fillcolor="gray", opacity=0.1,
                     annotation_text="incomplete")  # fmt: skip
figure.update_layout(title=f"{view.label(name)} by {grain}" + (f", split by {dimension}" if dimension else ""))
chart(figure, key="trend_chart")

if dimension is None and grain == "week":
    with st.expander(t("Forecast and seasonal decomposition (STL)")):
        trend = ask(dashboard.weekly_trend_view, db(), view, name)
        if trend is None:
            st.caption(t("Too few complete weeks for a forecast."))
        else:
            st.write(trend["summary"])
            forecast_figure = go.Figure()
            history, ahead = trend["history"], trend["forecast"]
            forecast_figure.add_trace(go.Scatter(x=history["period_start"], y=history["value"], name="observed"))
            if ahead.height:
                forecast_figure.add_trace(go.Scatter(x=ahead["period_start"], y=ahead["high"], line={"width": 0},
                                                     showlegend=False))  # fmt: skip
                forecast_figure.add_trace(go.Scatter(x=ahead["period_start"], y=ahead["low"], fill="tonexty",
                                                     line={"width": 0}, name="forecast band"))  # fmt: skip
                forecast_figure.add_trace(go.Scatter(x=ahead["period_start"], y=ahead["forecast"], name="forecast",
                                                     line={"dash": "dash"}))  # fmt: skip
            chart(forecast_figure, key="forecast_chart")
            components = trend["components"]
            if components.height:
                stl = go.Figure()
                for column in ("trend", "seasonal", "residual"):
                    stl.add_trace(go.Scatter(x=components["period_start"], y=components[column], name=column))
                stl.update_layout(title="STL components")
                chart(stl, key="stl_chart")

with st.expander(t("Records behind a period")):
    periods = series.sort("period_start", descending=True)["period_start"].unique(maintain_order=True).to_list()
    period = st.selectbox(t("Period"), periods, key="trend_records_period")
    segment = None
    if dimension:
        segment = st.selectbox(dimension, sorted(series["segment"].unique().to_list()), key="trend_records_segment")
    period_end = series.filter(pl.col("period_start") == period)["period_end"][0] - timedelta(days=1)
    behind = read(records_behind, load_settings(), view, name, grain, dimension, segment, (period, period_end))
    st.caption(f"{behind.height:,} most recent {record_source(name)} of that period (at most 500).")
    table(behind, f"{record_source(name)} {period}", key="trend_records")

for reason in sorted(series["reason"].drop_nulls().unique().to_list()):
    st.caption(f"No data in {series.filter(pl.col('reason') == reason).height} of the periods shown: {reason}")
table(series.select("period_start", "segment", "value", "ci_low", "ci_high", "n", "target", "status", "complete",
                    "reason"), f"{name} by {grain}", key="trend_table",
      value_format=catalog()[name].format)  # fmt: skip
