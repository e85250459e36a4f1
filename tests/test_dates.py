"""Implausible dates: a placeholder date long before any helpdesk (0001-01-01, 1900-01-01) is rejected at ingest
with its reason, and a row like it already in an older warehouse stretches no calendar of periods."""

from __future__ import annotations

import duckdb
import pytest

from pipelines.ingest import ingest_file
from tests.conftest import run_cli
from tests.test_bad_inputs import either_size  # noqa: F401  (the large-and-small fixture)

BOUND = "(the earliest plausible date; set CSAT_RADAR_EARLIEST_DATE to change it)"


def stored_rejections(con, batch_id: int) -> list[tuple]:
    return con.sql(
        f"SELECT line_number, column_name, reason FROM rejected_rows WHERE batch_id = {batch_id} ORDER BY 1"
    ).fetchall()


@pytest.mark.usefixtures("either_size")
def test_a_ticket_dated_before_2000_in_any_timestamp_column_is_rejected_with_its_reason(con, tmp_path):
    path = tmp_path / "old.csv"
    path.write_text(
        "ticket id,created at,first response at,resolved at,closed at,channel\n"
        "T1,2026-03-02 09:00,2026-03-02 10:00,2026-03-03 09:00,,email\n"
        "T2,0001-01-01 09:00,,,,email\n"
        "T3,1900-01-01 09:00,,,,chat\n"
        "T4,2026-03-02 09:00,1970-01-01 00:00,,,chat\n"
        "T5,2026-03-02 09:00,,1999-12-31 23:59,,web\n"
        "T6,2026-03-02 09:00,,,1900-01-01 00:00,web\n"
        "T7,2000-01-01 00:00,,,,web\n"
    )
    result = ingest_file(con, path, "tickets", source_tz="UTC")
    assert (result.rows_read, result.rows_loaded, result.rows_rejected) == (7, 2, 5)
    assert con.sql("SELECT ticket_id FROM tickets ORDER BY 1").fetchall() == [("T1",), ("T7",)]
    assert stored_rejections(con, result.batch_id) == [
        (3, "created_at", f"created_at 0001-01-01 is before 2000-01-01 {BOUND}"),
        (4, "created_at", f"created_at 1900-01-01 is before 2000-01-01 {BOUND}"),
        (5, "first_response_at", f"first_response_at 1970-01-01 is before 2000-01-01 {BOUND}"),
        (6, "resolved_at", f"resolved_at 1999-12-31 is before 2000-01-01 {BOUND}"),
        (7, "closed_at", f"closed_at 1900-01-01 is before 2000-01-01 {BOUND}"),
    ]


SURVEYS = "response id,responded at,score\nR1,2026-03-02 09:00,5\nR2,1900-01-01 09:00,4\nR3,2026-03-02 10:00,3\n"
COMPLAINTS = "complaint id,created at,text\nC1,2026-03-02 09:00,late\nC2,0001-01-01,lost\nC3,2026-03-02 10:00,rude\n"
ORDERS = "date,channel,orders\n2026-03-02,email,40\n1900-01-01,email,30\n2026-03-03,email,50\n"


@pytest.mark.usefixtures("either_size")
@pytest.mark.parametrize(
    ("kind", "text", "reason"),
    [
        ("surveys", SURVEYS, "responded_at 1900-01-01"),
        ("complaints", COMPLAINTS, "created_at 0001-01-01"),
        ("orders", ORDERS, "created_at 1900-01-01"),
    ],
    ids=["surveys", "complaints", "orders"],
)
def test_survey_complaint_and_order_dates_before_2000_are_rejected(con, tmp_path, kind, text, reason):
    path = tmp_path / f"{kind}.csv"
    path.write_text(text)
    result = ingest_file(con, path, kind, source_tz="UTC")
    assert (result.rows_read, result.rows_loaded, result.rows_rejected) == (3, 2, 1)
    column = reason.split()[0]
    assert stored_rejections(con, result.batch_id) == [(3, column, f"{reason} is before 2000-01-01 {BOUND}")]


def test_the_earliest_plausible_date_is_set_by_its_environment_variable(tmp_path):
    path = tmp_path / "archive.csv"
    path.write_text("ticket id,created at\nT1,1995-06-01 09:00\nT2,1890-01-01 09:00\n")
    db = tmp_path / "w.duckdb"
    loaded = run_cli(
        "ingest", str(path), "--kind", "tickets", "--db", str(db), env={"CSAT_RADAR_EARLIEST_DATE": "1990-01-01"}
    )
    assert loaded.returncode == 0, loaded.stderr
    written = duckdb.connect(str(db), read_only=True)
    assert written.sql("SELECT ticket_id FROM tickets").fetchall() == [("T1",)]
    assert written.sql("SELECT reason FROM rejected_rows").fetchall() == [
        (f"created_at 1890-01-01 is before 1990-01-01 {BOUND}",)
    ]
    written.close()

    other = tmp_path / "other.duckdb"
    refused = run_cli(
        "ingest", str(path), "--kind", "tickets", "--db", str(other), env={"CSAT_RADAR_EARLIEST_DATE": "soon"}
    )
    assert (refused.returncode, refused.stderr, refused.stdout) == (
        2,
        "csat-radar: archive.csv: CSAT_RADAR_EARLIEST_DATE 'soon' is not a date (YYYY-MM-DD)\n",
        "",
    )
    if other.exists():
        left = duckdb.connect(str(other), read_only=True)
        assert left.sql("SELECT (SELECT count(*) FROM batches) + (SELECT count(*) FROM tickets)").fetchall() == [(0,)]
        left.close()
