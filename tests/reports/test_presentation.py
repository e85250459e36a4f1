"""One presentation layer: a table's cells read as people read them, every shown column is registered,
and the quarterly workbook holds numbers (with number formats) that sum and sort as numbers."""

from __future__ import annotations

import io
import re
import zipfile
from datetime import UTC, date, datetime

import duckdb
import polars as pl
import pytest

from metrics.crises.log import list_crises
from metrics.kpis.catalog import catalog
from metrics.kpis.compute import STATUSES
from metrics.kpis.formats import format_change
from metrics.kpis.presentation import COLUMNS, present, status_colours
from metrics.kpis.scope import View
from metrics.kpis.settings import load_settings, on_data_clock
from metrics.reports.review import SHEETS, quarterly_review, render_html, write_excel
from metrics.views import crisis_lists, dashboard
from metrics.views.summary import rejected_rows, warehouse_summary
from pipelines.common.names import printable_frame
from pipelines.signin import access

QUARTER = "2026Q2"


@pytest.fixture(scope="module")
def warehouse(demo):
    con = duckdb.connect(str(demo[0]), read_only=True)
    yield con
    con.close()


@pytest.fixture(scope="module")
def review(warehouse):
    return quarterly_review(warehouse, QUARTER)


@pytest.fixture(scope="module")
def workbook(review) -> bytes:
    buffer = io.BytesIO()
    write_excel(review, buffer)
    return buffer.getvalue()


def test_a_table_shows_shares_durations_dates_gaps_and_statuses_as_people_read_them():
    frame = pl.DataFrame(
        {
            "period_start": [date(2026, 3, 2), date(2026, 3, 9), None],
            "share": [0.9052, 0.0449, None],
            "first_response_median_h": [0.2, 11.5, None],
            "resolution_p90_h": [68.0, 110.4, 30.0],
            "created_at": [datetime(2026, 3, 2, 14, 5, tzinfo=UTC), None, datetime(2026, 3, 3, tzinfo=UTC)],
            "status": ["not_credibly_missed", "met", None],
            "change_significant": [True, False, None],
            "q_value": [1e-12, 0.0123, None],
        }
    )
    shown = present(frame)
    assert shown.columns == [
        "Period", "Share", "First response, median", "Resolution, 90th percentile", "Created", "Status",
        "Significant change", "Adjusted p (BH)",
    ]  # fmt: skip
    assert shown.rows() == [
        ("2026-03-02", "90.5%", "0.2 h", "2.8 d", "2026-03-02 14:05", STATUSES["not_credibly_missed"], "yes",
         "< 0.001"),
        ("2026-03-09", "4.5%", "11.5 h", "4.6 d", "–", "target met", "no", "0.012"),
        ("–", "–", "–", "1.2 d", "2026-03-03 00:00", "–", "–", "–"),
    ]  # fmt: skip
    chinese = present(frame, "zh")
    assert chinese.columns[:2] == ["周期", "占比"] and chinese["状态"][1] == "达标"
    assert chinese["首次响应中位数"][1] == "11.5 小时"
    colours = status_colours(frame)["Status"]
    assert colours["target met"] != colours[STATUSES["not_credibly_missed"]]


def test_a_column_of_midnights_shows_dates_and_a_kpi_value_reads_in_its_format():
    midnights = pl.DataFrame({"created_at": [datetime(2026, 3, 2, tzinfo=UTC), datetime(2026, 3, 3, tzinfo=UTC)]})
    assert present(midnights)["Created"].to_list() == ["2026-03-02", "2026-03-03"]
    series = pl.DataFrame({"value": [0.899, None], "target": [0.9, 0.9], "n": [8019, 12]})
    assert present(series, value_format="percent").rows() == [("89.9%", "90.0%", 8019), ("–", "90.0%", 12)]
    minutes = pl.DataFrame({"value": [45.0, 75.0], "target": [60.0, 60.0]})
    assert present(minutes, value_format="minutes").rows() == [("45 min", "60 min"), ("75 min", "60 min")]


def _shown_frames(con) -> dict[str, pl.DataFrame]:
    """What each view-model hands a page's table on the demo warehouse (the frames ``table()`` receives)."""
    settings, view = on_data_clock(con, load_settings()), View()
    report = quarterly_review(con, QUARTER)
    series = dashboard.kpi_series(con, settings, view, "csat", "week", "channel")
    batches = warehouse_summary(con).recent_batches
    events = pl.DataFrame(dashboard.visible_crisis(con, view, int(list_crises(con)["crisis_id"][0]))["events"])
    trend_columns = ("period_start", "segment", "value", "ci_low", "ci_high", "n", "target", "status", "complete")
    complaint_metrics = ("complaint_volume", "complaint_rate")
    frames = {
        "trends": series.select(*trend_columns, "reason"),
        "crisis log": crisis_lists.crisis_table(con, settings, view),
        "crisis history": events.drop("crisis_id"),
        "complaints by product": dashboard.by_segment(con, settings, view, complaint_metrics, "product"),
        "service by channel": dashboard.by_segment(con, settings, view, dashboard.SERVICE_METRICS, "channel"),
        "pareto": dashboard.complaint_pareto(con, settings, view),
        "batches": batches,
        "rejected": rejected_rows(con, int(batches["batch_id"][0])),
        "audit": access.audit_entries(con),
        "users": printable_frame(access.users(con)),
        "review kpis": report.kpis.drop("metric", "status"),
        "review crises": report.crises,
        "review causes": report.top_causes,
        "review stages": report.slowest_stages,
    }
    for name in ("csat", "complaint_volume", "ticket_volume"):
        frames[f"records behind {name}"] = dashboard.records_behind(con, settings, view, name, limit=5)
    return frames


def test_every_column_a_page_table_shows_has_its_words_in_the_registry(warehouse):
    """A new column in a view-model gets its label (English and Chinese) and kind here, or this fails."""
    kpi_labels = {label for m in catalog().values() for label in (m.label, m.display_label("zh"))}
    unregistered = {
        (table, column)
        for table, frame in _shown_frames(warehouse).items()
        for column in frame.columns
        if column not in COLUMNS and column not in kpi_labels
    }
    assert not unregistered, sorted(unregistered)
    assert all(entry.label_zh and entry.label_zh != entry.label for entry in COLUMNS.values()), "each has Chinese"


def test_by_segment_keeps_numbers_and_a_duration_column_reads_in_one_unit(warehouse):
    settings, view = on_data_clock(warehouse, load_settings()), View()
    frame = dashboard.by_segment(warehouse, settings, view, dashboard.SERVICE_METRICS, "channel")
    label = catalog()["resolution_p90"].label
    assert frame.schema[label] == pl.Float64, "the download keeps the minutes"
    units = {cell.split(" ")[-1] for cell in present(frame)[label]}
    assert len(units) == 1, f"one unit per column, not {units}"


def test_the_workbook_holds_numbers_with_number_formats(review, workbook):
    sheets = pl.read_excel(workbook, sheet_id=0)
    kpis = sheets[SHEETS["kpis"]]
    for column in ("Value", "95% interval, low", "95% interval, high", "Target", "Previous quarter", "Change"):
        assert kpis.schema[column] == pl.Float64, f"{column} is numbers, not text"
    csat = kpis.filter(pl.col("KPI") == "CSAT").row(0, named=True)
    numbers = review.numbers.filter(pl.col("metric") == "csat").row(0, named=True)
    assert csat["Value"] == pytest.approx(numbers["value"]) and csat["Target"] == pytest.approx(0.9)
    assert csat["95% interval, low"] < csat["Value"] < csat["95% interval, high"]
    nps = kpis.filter(pl.col("KPI") == "NPS").row(0, named=True)
    assert -100 <= nps["95% interval, low"] < nps["Value"] < nps["95% interval, high"] <= 100  # +38, no "'+33"
    assert kpis["KPI"].to_list() == review.kpis["label"].to_list(), "the rows in the review's order"
    causes = sheets[SHEETS["top_causes"]]
    assert causes.schema["Share"] == pl.Float64 and causes.schema["Complaints"] == pl.Int64
    assert causes["Complaints"].sum() == review.top_causes["complaints"].sum()
    assert causes.sort("Share", descending=True)["Cause"].to_list() == causes["Cause"].to_list()
    stages = sheets[SHEETS["slowest_stages"]]
    assert stages.schema["Resolution, 90th percentile"] == pl.Float64
    styles = zipfile.ZipFile(io.BytesIO(workbook)).read("xl/styles.xml").decode()
    formats = set(re.findall(r'formatCode="([^"]*)"', styles))
    assert {"0.0%", "0.0 &quot;h&quot;", "#,##0", "+0;-0;0"} <= formats, formats


def test_the_workbook_colours_the_status_of_a_missed_target(workbook):
    styles = zipfile.ZipFile(io.BytesIO(workbook)).read("xl/styles.xml").decode()
    assert "FFFBE7C6" in styles.upper() or "FFF8D3D3" in styles.upper(), "a status cell has its fill"


def test_a_long_duration_change_reads_in_days_in_the_html_report(review):
    assert format_change(-1_082_487.0, "minutes") == "-751.7 d"
    assert format_change(-96.0, "minutes") == "-96 min" and format_change(-150.0, "minutes") == "-2.5 h"
    assert format_change(0.2, "minutes") == "+0.2 min"
    page = render_html(review)
    assert not re.search(r"[+-][0-9,]{6,} min", page)


def test_the_html_report_has_worded_headers_and_coloured_statuses(review):
    page = render_html(review)
    headers = re.findall(r"<th>([^<]*)</th>", page)
    assert "Status" in headers and not [h for h in headers if "_" in h], headers
    assert "not_credibly_missed" not in page and ">None<" not in page
    assert re.search(r"<td style='color:#[0-9a-f]{6};font-weight:600'>target met</td>", page)


def test_the_review_table_reads_in_chinese(review):
    shown = present(review.kpis.drop("metric", "status"), "zh")
    assert shown.columns[:2] == ["指标", "数值"]
    row = shown.filter(pl.col("指标") == catalog()["csat"].display_label("zh")).row(0, named=True)
    assert row["状态"] in ("达标", "低于目标，但在不确定范围内", "确实未达标") and row["显著变化"] in ("是", "否")


def test_a_header_already_in_words_is_kept_and_a_code_name_loses_its_underscores():
    frame = pl.DataFrame({"CSAT": [0.91], "Adjusted p (BH)": ["< 0.001"], "rows_skipped_late": [3]})
    assert present(frame).columns == ["CSAT", "Adjusted p (BH)", "Rows skipped late"]
    assert present(frame)["CSAT"].to_list() == ["91.0%"], "a KPI's label column reads in the KPI's format"
