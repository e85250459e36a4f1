"""Quarterly review: every KPI against target and the previous quarter, the crises and how they were handled,
the top complaint causes and the slowest stages; downloadable as HTML and Excel."""

from __future__ import annotations

import io

import streamlit as st

from metrics.kpis.settings import load_settings
from metrics.reports import review
from metrics.views import dashboard
from pages._frame.display import stop_if_empty, table
from pages._frame.entry import enter
from pages._frame.language import page_title, t
from pages._frame.questions import ask, current_view, read
from pages._frame.warehouse import db

enter()  # the gate and the navigation first, however this page was reached
st.title(page_title("quarterly_review"))
stop_if_empty()
view = current_view()

quarters = ask(dashboard.quarters, db(), None)
if not quarters:
    st.info(t("No complete quarter of data yet."))
    st.stop()
# Not whole: still in progress, or begun before the data did.
labels = [label if complete else f"{label} {t('(incomplete)')}" for label, complete in quarters]
first_complete = next((i for i, (_, complete) in enumerate(quarters) if complete), 0)
chosen = st.selectbox(t("Quarter"), labels, index=first_complete, key="review_quarter")
quarter = chosen.split(" ")[0]
try:
    report = read(review.quarterly_review, quarter, load_settings(), view)
except ValueError as exc:
    st.error(str(exc))
    st.stop()

st.caption(
    t("{quarter} against {previous}. A change is called significant at the 5% level.").format(
        quarter=quarter, previous=report.previous
    )
)
html, workbook = st.columns(2)
html.download_button(t("Download report (HTML)"), review.render_html(report), file_name=f"csat-radar-{quarter}.html",
                     mime="text/html", type="primary", key="download_html")  # fmt: skip
buffer = io.BytesIO()
review.write_excel(report, buffer)
workbook.download_button(t("Download workbook (Excel)"), buffer.getvalue(), file_name=f"csat-radar-{quarter}.xlsx",
                         mime="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                         key="download_xlsx")  # fmt: skip

st.subheader(t("KPIs against target"))
table(report.kpis.drop("metric", "status"), f"kpis {quarter}", key="review_kpis")
st.subheader(t("Crises and their handling"))
table(report.crises, f"crises {quarter}", key="review_crises")
st.subheader(t("Top complaint causes"))
table(report.top_causes, f"complaint causes {quarter}", key="review_causes")
st.subheader(t("Slowest process stages by case type"))
table(report.slowest_stages, f"slowest stages {quarter}", key="review_stages")
