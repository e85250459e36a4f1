"""Quarterly review: every KPI against target and the previous quarter, the crises and how they were handled,
the top complaint causes and the slowest stages; downloadable as HTML and Excel."""

from __future__ import annotations

import io

import polars as pl
import streamlit as st

from metrics.kpis.catalog import metric
from metrics.kpis.presentation import STATUS_COLOURS
from metrics.reports import review
from metrics.reports.exports import csv_bytes
from metrics.views import dashboard
from pages._frame.display import stop_if_empty, table
from pages._frame.entry import enter
from pages._frame.language import language, page_title, t
from pages._frame.questions import ask, current_view, review_of
from pages._frame.warehouse import db
from pipelines.common.names import markdown_text

enter()  # the gate and the navigation first, however this page was reached

# The KPI table's columns as people read them, in the review's order.
KPI_COLUMNS = {
    "label": "KPI",
    "value": "Value",
    "interval": "95% interval",
    "n": "n",
    "target": "Target",
    "status_text": "Status",
    "previous_quarter": "Previous quarter",
    "change": "Change",
    "change_significant": "Significant change",
    "note": "Note",
}


def localised(kpis: pl.DataFrame) -> pl.DataFrame:
    """The review's KPI rows with labels and statuses in the session's language (words looked up here, on the
    page's own thread, where the session's language is known)."""
    labels = {name: metric(name).display_label(language()) for name in kpis["metric"].unique()}
    statuses = {text_: t(text_) for text_ in kpis["status_text"].unique()}
    return kpis.with_columns(
        pl.col("metric").replace_strict(labels).alias("label"), pl.col("status_text").replace(statuses)
    )


def kpi_table(kpis: pl.DataFrame, quarter: str) -> None:
    """Every KPI row at once, statuses as coloured words (the HTML report's colours), with its CSV download."""
    shown = localised(kpis).with_columns(pl.col("change_significant").replace({"yes": t("yes"), "no": t("no")}))
    colours = dict(zip(shown["status_text"], shown["status"].replace_strict(STATUS_COLOURS, default=None),
                       strict=True))  # fmt: skip
    # A note column with nothing to say is left out (it only says why a KPI has no number).
    columns = {c: h for c, h in KPI_COLUMNS.items() if c != "note" or shown["note"].str.len_chars().sum()}
    frame = shown.select(pl.col(c).alias(t(header)) for c, header in columns.items())
    styled = (
        frame.to_pandas()
        .style.map(lambda v: f"color: {colours[v]}; font-weight: 600" if colours.get(v) else "", subset=[t("Status")])
        .format({t("n"): "{:,}"}, na_rep="–")
    )
    # A static table: every row at once and long words wrapped ("below target, but within the uncertainty"),
    # where a data grid would cut them and scroll.
    st.table(styled.hide(axis="index"))
    st.download_button(t("Download KPIs (CSV)"), csv_bytes(frame), file_name=f"kpis_{quarter}.csv", mime="text/csv",
                       key="download_review_kpis")  # fmt: skip


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
    report = review_of(quarter, view)
except ValueError as exc:
    st.error(str(exc))
    st.stop()

st.caption(
    t("{quarter} against {previous}. A change is called significant at the 5% level.").format(
        quarter=quarter, previous=report.previous
    )
)
# What needs discussing leads, so the missed targets are on screen without scrolling.
missed = localised(report.kpis).filter(pl.col("status").is_in(list(review.NEEDS_DISCUSSING)))
if missed.is_empty():
    st.success(t("Every KPI with a target met it, or is too close to call."))
else:
    named = "; ".join(
        f"**{markdown_text(row['label'])}** {row['value']} ({t('target')} {row['target']})"
        for row in missed.iter_rows(named=True)
    )
    st.error(f"{t('Targets missed:')} {named}")

st.subheader(t("KPIs against target"))
kpi_table(report.kpis, quarter)
html, workbook = st.columns(2)
html.download_button(t("Download report (HTML)"), review.render_html(report), file_name=f"csat-radar-{quarter}.html",
                     mime="text/html", type="primary", key="download_html")  # fmt: skip
buffer = io.BytesIO()
review.write_excel(report, buffer)
workbook.download_button(t("Download workbook (Excel)"), buffer.getvalue(), file_name=f"csat-radar-{quarter}.xlsx",
                         mime="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                         key="download_xlsx")  # fmt: skip

st.subheader(t("Crises and their handling"))
table(report.crises, f"crises {quarter}", key="review_crises")
st.subheader(t("Top complaint causes"))
table(report.top_causes, f"complaint causes {quarter}", key="review_causes")
st.subheader(t("Slowest process stages by case type"))
table(report.slowest_stages, f"slowest stages {quarter}", key="review_stages")
