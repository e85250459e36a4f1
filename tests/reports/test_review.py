"""The quarterly review: its numbers against the warehouse, its HTML and Excel exports, and ``csat-radar report``."""

from __future__ import annotations

import dataclasses
import io

import duckdb
import polars as pl
import pytest

from metrics.kpis.catalog import metric
from metrics.kpis.compute import Query, compute
from metrics.kpis.formats import format_change, format_value
from metrics.kpis.settings import load_settings
from metrics.reports.exports import csv_bytes, escape_formula_cells
from metrics.reports.review import ABOUT_SHEET, SHEETS, quarter_bounds, quarterly_review, render_html, write_excel
from tests.conftest import run_cli

QUARTER = "2026Q2"


@pytest.fixture(scope="module")
def review(demo):
    con = duckdb.connect(str(demo[0]), read_only=True)
    yield quarterly_review(con, QUARTER), con
    con.close()


def test_quarter_bounds_and_bad_text():
    assert quarter_bounds("2026Q3") == (quarter_bounds("2026q3")[0], quarter_bounds("2026Q3")[1])
    start, end = quarter_bounds("2025Q4")
    assert (start.isoformat(), end.isoformat()) == ("2025-10-01", "2025-12-31")
    with pytest.raises(ValueError, match="not like 2026Q3"):
        quarter_bounds("Q3 2026")


def test_a_change_reads_alike_in_the_review_the_tiles_and_the_command_line():
    """metrics/kpis/formats.py is the one formatter; these are the review's texts, which the others now share."""
    assert format_change(0.019, "percent") == "+1.9 pts"
    assert format_change(0.12, "score") == "+12"
    assert format_change(-1234.0, "count") == "-1,234"
    assert format_change(30.0, "minutes") == "+30 min"
    assert format_change(0.5, "decimal") == "+0.50"
    assert format_change(None, "percent") == "–"


def test_kpis_match_the_catalog_at_quarter_grain(review):
    report, con = review
    start, end = quarter_bounds(QUARTER)
    csat = compute(con, Query(("csat",), "quarter", None, start, end), load_settings())
    row = report.kpis.filter(pl.col("metric") == "csat").row(0, named=True)
    assert row["value"] == format_value(csat["value"][0], "percent")
    assert row["previous_quarter"] != "–" and row["change_significant"] in ("yes", "no")
    assert report.previous == "2026Q1"


def test_top_causes_count_the_quarters_complaints(review):
    report, con = review
    start, end = quarter_bounds(QUARTER)
    counted = dict(
        con.sql(
            """SELECT coalesce(c.category, t.category), count(*) FROM complaints c
               LEFT JOIN tickets t USING (ticket_id)
               WHERE (c.created_at AT TIME ZONE 'UTC')::DATE BETWEEN ? AND ? GROUP BY 1""",
            params=[start, end],
        ).fetchall()
    )
    shown = dict(report.top_causes.select("cause", "complaints").iter_rows())
    assert shown == {cause: n for cause, n in counted.items() if cause in shown}
    assert report.top_causes["complaints"].to_list() == sorted(shown.values(), reverse=True)


def test_slowest_stages_are_ranked_by_p90_resolution(review):
    report, _ = review
    p90 = report.slowest_stages["resolution_p90_h"].to_list()
    assert p90 == sorted(p90, reverse=True) and len(p90) > 1


def test_crises_of_the_quarter_overlap_it(review):
    report, _ = review
    start, end = quarter_bounds(QUARTER)
    assert not report.crises.is_empty()
    assert all(s <= end.isoformat() for s in report.crises["start"])
    assert all(e is None or e >= start.isoformat() for e in report.crises["end"])


def test_html_is_self_contained_and_escaped(review):
    report, _ = review
    hostile = dataclasses.replace(
        report, top_causes=pl.DataFrame({"cause": ["<script>alert(1)</script>"], "complaints": [1]})
    )
    page = render_html(hostile)
    assert f"quarterly review {QUARTER}" in page and "CSAT" in page
    assert "<script" not in page and "&lt;script&gt;" in page
    assert "http" not in page and "<link" not in page and "<img" not in page


def test_workbook_has_a_sheet_per_table_with_formulas_escaped(review):
    report, _ = review
    hostile = dataclasses.replace(
        report, top_causes=report.top_causes.with_columns(pl.lit('=HYPERLINK("http://x","y")').alias("cause"))
    )
    buffer = io.BytesIO()
    write_excel(hostile, buffer)
    sheets = pl.read_excel(io.BytesIO(buffer.getvalue()), sheet_id=0)
    assert list(sheets) == [ABOUT_SHEET, *SHEETS.values()]
    assert sheets["Complaint causes"]["Cause"][0] == '\'=HYPERLINK("http://x","y")'
    assert "CSAT" in sheets["KPIs"]["KPI"].to_list()


def test_csv_download_escapes_formulas_and_keeps_plain_figures():
    frame = pl.DataFrame({"text": ["=1+2", "@SUM(A1)", "-cmd", "-1.9 pts", "+12%", "ok"], "n": [1, 2, 3, 4, 5, 6]})
    assert escape_formula_cells(frame)["text"].to_list() == ["'=1+2", "'@SUM(A1)", "'-cmd", "-1.9 pts", "+12%", "ok"]
    assert frame["text"][0] == "=1+2", "the input frame is left untouched"
    data = csv_bytes(frame)
    assert data.startswith(b"\xef\xbb\xbf") and b"'=1+2" in data


def test_report_command_writes_html_and_xlsx_and_refuses_bad_requests(demo, tmp_path):
    db = str(demo[0])
    html = tmp_path / "q.html"
    ok = run_cli("report", "--db", db, "--quarter", QUARTER, "--out", str(html))
    assert ok.returncode == 0, ok.stderr
    assert f"{QUARTER} review written to" in ok.stdout and "<html" in html.read_text(encoding="utf-8")
    xlsx = tmp_path / "q.xlsx"
    assert run_cli("report", "--db", db, "--out", str(xlsx)).returncode == 0
    assert xlsx.read_bytes()[:2] == b"PK"
    wrong = run_cli("report", "--db", db, "--out", str(tmp_path / "q.pdf"))
    assert wrong.returncode == 2 and "unknown report format" in wrong.stderr
    assert len(wrong.stderr.strip().splitlines()) == 1 and not (tmp_path / "q.pdf").exists()
    bad = run_cli("report", "--db", db, "--quarter", "26Q2", "--out", str(tmp_path / "b.html"))
    assert bad.returncode == 2 and "not like 2026Q3" in bad.stderr and not (tmp_path / "b.html").exists()


def test_a_kpi_without_its_inputs_is_in_the_review_as_no_data_with_the_column_that_would_give_it(tmp_path):
    from datetime import UTC, datetime

    from pipelines.ingest import ingest_file
    from pipelines.warehouse.store import connect
    from tests.conftest import write

    # A quarter of tickets resolved the same day, from an export with no first-response times.
    tickets = "Ref No,Date Opened,Date Resolved\n" + "".join(
        f"R-{month}-{day},2025-{month:02d}-{day:02d} 09:00,2025-{month:02d}-{day:02d} 15:00\n"
        for month in (1, 2, 3)
        for day in range(1, 29)
    )
    con = connect(tmp_path / "w.duckdb")
    try:
        ingest_file(con, write(tmp_path / "t.csv", tickets), "tickets", source_tz="UTC",
                    mapping={"ticket_id": "Ref No"}, as_of=datetime(2025, 4, 1, tzinfo=UTC))  # fmt: skip
        report = quarterly_review(con, "2025Q1")
    finally:
        con.close()
    reason = "no first-response times in the data (column first_response_at)"
    sla = report.kpis.filter(pl.col("metric") == "first_response_sla").row(0, named=True)
    assert (sla["value"], sla["status_text"], sla["note"]) == ("–", "no data", reason)
    resolved = report.kpis.filter(pl.col("metric") == "resolution_median").row(0, named=True)
    assert (resolved["value"], resolved["note"]) == ("6.0 h", "")
    assert reason in render_html(report)
    buffer = io.BytesIO()
    write_excel(report, buffer)
    sheet = pl.read_excel(buffer.getvalue(), sheet_name=SHEETS["kpis"])
    sla_label = metric("first_response_sla").label
    assert sheet.filter(pl.col("KPI") == sla_label)[["Note", "Status"]].rows() == [(reason, "no data")]
