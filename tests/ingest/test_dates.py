"""Implausible dates: a placeholder date long before any helpdesk (0001-01-01, 1900-01-01) is rejected at ingest
with its reason, and a row like it already in an older warehouse stretches no calendar of periods."""

from __future__ import annotations

import json

import duckdb
import pytest

from pipelines.ingest import ingest_file
from tests.conftest import run_cli
from tests.ingest.test_bad_inputs import either_size  # noqa: F401  (the large-and-small fixture)

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


@pytest.fixture(scope="module")
def small_history(tmp_path_factory):
    """Two years of generated data at 30 tickets a day (seed 3), its crisis log empty: the warehouse file."""
    from cli.demo import build_demo

    db = tmp_path_factory.mktemp("small") / "small.duckdb"
    build_demo(db, seed=3, daily_tickets=30, log_crises=False)
    return db


OLD_ROWS = (
    "INSERT INTO tickets SELECT * REPLACE ('OLD-T' AS ticket_id, TIMESTAMPTZ '0001-01-01 09:00:00+00' AS created_at,"
    " NULL AS first_response_at, NULL AS resolved_at, NULL AS closed_at, 'open' AS status) FROM tickets LIMIT 1",
    "INSERT INTO survey_responses SELECT * REPLACE ('OLD-S' AS response_id, TIMESTAMPTZ '1900-01-01 09:00:00+00'"
    " AS responded_at) FROM survey_responses LIMIT 1",
    "INSERT INTO complaints SELECT * REPLACE ('OLD-C' AS complaint_id, TIMESTAMPTZ '0001-01-01 09:00:00+00'"
    " AS created_at) FROM complaints LIMIT 1",
)


def copies(small_history, tmp_path, cube: str) -> tuple[str, str]:
    """The small history twice: as generated, and with a ticket, an answer and a complaint dated 0001 or 1900
    inserted as an older version could have loaded them. ``cube``: "dropped" as a small warehouse's is after a
    load, or "rebuilt" with the old rows in the tables."""
    from metrics.kpis.cube import build_cube
    from pipelines.warehouse.store import connect

    paths = []
    for name, statements in (("clean", ()), ("old", OLD_ROWS)):
        path = tmp_path / f"{name}.duckdb"
        path.write_bytes(small_history.read_bytes())
        con = connect(path)
        for statement in statements:
            con.execute(statement)
        if cube == "dropped":
            con.execute("DELETE FROM kpi_cube_meta")
        else:
            build_cube(con)
        con.close()
        paths.append(str(path))
    return paths[0], paths[1]


@pytest.mark.parametrize("cube", ["dropped", "rebuilt"])
def test_a_row_dated_0001_in_an_older_warehouse_stretches_no_backlog_series(small_history, tmp_path, cube):
    clean, old = copies(small_history, tmp_path, cube)
    without = run_cli("kpis", "--metric", "backlog", "--grain", "week", "--db", clean)
    with_old = run_cli("kpis", "--metric", "backlog", "--grain", "week", "--db", old)
    assert without.returncode == with_old.returncode == 0, with_old.stderr
    lines = with_old.stdout.splitlines()
    # Once 105,709 lines, one a week from 0001-01-01; now the same weeks and values as without the row.
    assert 100 < len(lines) < 120
    assert with_old.stdout == without.stdout
    assert not lines[0].startswith("0001")


def test_a_row_dated_0001_in_an_older_warehouse_leaves_the_daily_radar_as_it_was(small_history, tmp_path):
    # The daily scan once took 220 s and 12 GB on this warehouse with the row (7 s without), and found other crises.
    clean, old = copies(small_history, tmp_path, "dropped")
    scans = [run_cli("crises", "--grain", "day", "--since", "2025-01-01", "--json", "--db", db) for db in (clean, old)]
    assert [s.returncode for s in scans] == [0, 0], scans[1].stderr
    # Each crisis as the list shows it (its contributors' float shares, and so the order of ties, vary run to run).
    found = [
        [{k: v for k, v in c.items() if k not in ("evidence", "contributors")} for c in json.loads(s.stdout)]
        for s in scans
    ]
    assert found[0], "the small history has crises to compare"
    assert found[1] == found[0]


def test_the_sidebar_span_and_the_report_quarters_ignore_a_row_dated_0001(small_history, tmp_path):
    from metrics.views.dashboard import quarters
    from metrics.views.summary import warehouse_summary

    spans, listed = [], []
    for db in copies(small_history, tmp_path, "dropped"):
        con = duckdb.connect(db, read_only=True)
        summary = warehouse_summary(con)
        spans.append((summary.first_activity, summary.last_activity))
        listed.append(quarters(con))
        con.close()
    assert spans[1] == spans[0]
    assert spans[1][0].year == 2024  # "Data: 2024-11-..." as without the row, not "Data: 1-01-01"
    assert listed[1] == listed[0]
