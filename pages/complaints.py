"""Complaints: the complaint rate against its 5% target, the causes (Pareto) and where they come from."""

from __future__ import annotations

import streamlit as st

from metrics.kpis.settings import load_settings
from metrics.views import dashboard, figures
from metrics.views.dashboard import records_behind
from pages._frame.display import chart, stop_if_empty, table
from pages._frame.entry import enter
from pages._frame.language import page_title, t, text
from pages._frame.questions import ask, current_view, read
from pages._frame.warehouse import db
from pipelines.common.names import markdown_text

enter()  # the gate and the navigation first, however this page was reached
st.title(page_title("complaints"))
stop_if_empty()
view = current_view()

rate = ask(dashboard.kpi_series, db(), view, "complaint_rate", "week", None)
if rate.is_empty():
    st.info(text("no_data"))
    st.stop()
figure = figures.kpi_trend(rate, view, "complaint_rate", "week")
chart(figure, key="complaint_rate")

pareto = ask(dashboard.complaint_pareto, db(), view)
st.subheader(t("Causes"))
if pareto.is_empty():
    st.caption(text("no_data"))
else:
    bars = figures.pareto(pareto, view)
    chart(bars, key="pareto")

st.subheader(t("Where they come from"))
dimension = st.selectbox(
    t("Break down by"), ["product", "channel", "region", "team", "category"], format_func=t, key="complaint_dimension"
)
breakdown = ask(dashboard.by_segment, db(), view, ("complaint_volume", "complaint_rate"), dimension)
table(breakdown, f"complaints by {dimension}", key="complaint_breakdown")

segments = breakdown[dimension].to_list() if not breakdown.is_empty() else []
if segments:
    chosen = st.selectbox(
        t("Complaints behind one {dimension}").format(dimension=t(dimension)), segments, key="complaint_drill"
    )
    behind = read(records_behind, load_settings(), view, "complaint_volume", "week", dimension, chosen)
    st.caption(
        t("{n} most recent complaints in {place} (at most 500).").format(
            n=f"{behind.height:,}", place=f"{t(dimension)} {markdown_text(str(chosen))}"
        )
    )
    table(behind,
          f"complaints {dimension} {chosen}", key="complaint_records")  # fmt: skip
