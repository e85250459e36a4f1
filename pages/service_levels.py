"""Service levels: response and resolution time distributions, medians and p90 by channel and team, backlog."""

from __future__ import annotations

import streamlit as st

from metrics.kpis.catalog import SERVICE_LEVEL_DIMENSIONS
from metrics.kpis.formats import format_value
from metrics.kpis.settings import load_settings
from metrics.views import dashboard, figures
from metrics.views.dashboard import SERVICE_METRICS, records_behind
from pages._frame.display import chart, stop_if_empty, table
from pages._frame.entry import enter
from pages._frame.language import page_title, t, text
from pages._frame.questions import ask, current_view, read
from pages._frame.warehouse import db

enter()  # the gate and the navigation first, however this page was reached
st.title(page_title("service_levels"))
stop_if_empty()
view = current_view()

backlog = ask(dashboard.backlog_now, db(), view)
open_tickets, age = st.columns(2)
open_tickets.metric(t("Open tickets (backlog)"), format_value(backlog["open_tickets"], "count"))
age.metric(t("Median age of open tickets"), backlog["median_age_text"])
if backlog["reason"]:
    st.caption(backlog["reason"])

left, right = st.columns(2)
for column, stage, title in (
    (left, "first_response", "First response time"),
    (right, "resolution", "Resolution time"),
):
    distribution = ask(dashboard.duration_distribution, db(), view, stage)
    with column:
        if distribution["tickets"].sum() == 0:
            st.caption(f"{title}: {text('no_data')}")
            continue
        figure = figures.duration_distribution(distribution, view, stage)
        chart(figure, key=f"distribution_{stage}")

targets = t("Targets: inquiries answered within 1 hour, complaints resolved within 24 hours.")
st.caption(targets)
for dimension in ask(dashboard.split_dimensions, db(), view, SERVICE_LEVEL_DIMENSIONS):
    st.subheader(t("By {dimension}").format(dimension=t(dimension)))
    table(ask(dashboard.by_segment, db(), view, SERVICE_METRICS, dimension), f"service levels by {dimension}",
          key=f"service_{dimension}")  # fmt: skip

with st.expander(t("Tickets behind these figures")):
    rows = read(records_behind, load_settings(), view, "ticket_volume")
    table(rows, "tickets", key="service_records")
    st.caption(t("The 500 most recent tickets within the filters."))
