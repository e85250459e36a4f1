"""The data's own clock: each batch records the moment its export describes, and "now" is that moment.

A history that ended weeks ago must not keep ageing against the wall clock: its backlog after
the data's end is no data, not a number growing every day.
"""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, date, datetime

from metrics.kpis.compute import compute
from metrics.kpis.settings import load_settings, settings_for
from metrics.kpis.sql import Query
from pipelines.warehouse.store import connect, warehouse_as_of
from tests.conftest import ROOT, run_cli, write

# Tickets of three weeks of March 2024; two are never closed, so they stay in the backlog.
TICKETS = """Ticket_ID,Created_At,Closed_At,Channel
A-1,2024-03-04 09:00,2024-03-04 17:00,mail
A-2,2024-03-05 10:00,,mail
A-3,2024-03-11 08:30,2024-03-12 09:15,phone
A-4,2024-03-12 11:00,,phone
A-5,2024-03-20 15:45,2024-03-21 10:30,mail
"""

# A moment given explicitly, weeks after the data ends.
LATER = datetime(2024, 5, 1, tzinfo=UTC)


def test_a_batch_records_the_latest_event_of_its_export(tmp_path):
    db = tmp_path / "w.duckdb"
    loaded = run_cli("ingest", str(write(tmp_path / "march.csv", TICKETS)), "--kind", "tickets", "--tz", "UTC",
                     "--db", str(db))  # fmt: skip
    assert loaded.returncode == 0, loaded.stderr
    con = connect(db, read_only=True)
    try:
        assert con.sql("SELECT as_of FROM batches").fetchall()[0][0] == datetime(2024, 3, 21, 10, 30, tzinfo=UTC)
        assert warehouse_as_of(con) == datetime(2024, 3, 21, 10, 30, tzinfo=UTC)
        # Nothing of the wall clock: the settings every KPI and the radar use are as of the data.
        # (just after that moment, so what happened then has happened)
        assert (
            datetime(2024, 3, 21, 10, 30, tzinfo=UTC)
            < settings_for(con).as_of
            < datetime(2024, 3, 21, 10, 31, tzinfo=UTC)
        )
    finally:
        con.close()


def test_as_of_given_on_ingest_is_the_moment_the_export_describes(tmp_path):
    db = tmp_path / "w.duckdb"
    source = write(tmp_path / "march.csv", TICKETS)
    loaded = run_cli("ingest", str(source), "--kind", "tickets", "--as-of", "2024-03-31", "--db", f"{db}")
    assert loaded.returncode == 0, loaded.stderr
    con = connect(db, read_only=True)
    try:  # a date is the end of that day: the export covers all of it
        assert warehouse_as_of(con) == datetime(2024, 4, 1, tzinfo=UTC)
    finally:
        con.close()
    refused = run_cli("ingest", str(source), "--kind", "tickets", "--as-of", "last week", "--db", str(db))
    assert refused.returncode != 0 and "--as-of" in refused.stderr and "2026-11-15T18:00" in refused.stderr


def test_backlog_after_the_data_ends_is_no_data_not_growing_with_the_clock(tmp_path):
    db = tmp_path / "w.duckdb"
    assert run_cli("ingest", str(write(tmp_path / "m.csv", TICKETS)), "--kind", "tickets", "--tz", "UTC",
                   "--db", str(db)).returncode == 0  # fmt: skip
    asked = ("kpis", "--json", "--metric", "backlog", "--metric", "backlog_age", "--grain", "week", "--db", str(db))
    after = run_cli(*asked, "--from", "2024-04-01")
    assert after.returncode == 0, after.stderr
    assert json.loads(after.stdout) == []
    during = {(r["metric"], r["period_start"]): r["value"] for r in json.loads(run_cli(*asked).stdout)}
    # At the end of the week of 11 March, A-2 and A-4 were open (A-3 closed on the 12th).
    assert during[("backlog", "2024-03-11")] == 2
    # Now is the data's last moment, when A-5 was closed: it is not open, A-2 and A-4 are.
    assert during[("backlog", "2024-03-18")] == 2
    assert max(p for _, p in during) == "2024-03-18"  # the week the data ends in, and none after


def test_a_session_reads_timestamps_in_utc_whatever_the_host_zone(tmp_path):
    db = tmp_path / "w.duckdb"
    program = (
        "import sys; from pipelines.warehouse.store import connect; con = connect(sys.argv[1]); "
        "print(con.sql(\"SELECT current_setting('TimeZone'), "
        "(TIMESTAMPTZ '2024-03-04 23:30:00')::DATE\").fetchall()[0])"
    )
    for zone in ("America/Los_Angeles", "Asia/Tokyo"):
        shown = subprocess.run(
            [sys.executable, "-c", program, str(db)], capture_output=True, text=True, cwd=ROOT,
            env={"TZ": zone, "PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}, check=True,
        ).stdout.strip()  # fmt: skip
        assert shown == "('UTC', datetime.date(2024, 3, 4))", (zone, shown)


def test_settings_loaded_without_a_moment_follow_the_data_wherever_a_warehouse_answers(tmp_path):
    """The dashboard's pages load the settings with no moment: the KPIs they ask for end with the data."""
    db = tmp_path / "w.duckdb"
    assert run_cli("ingest", str(write(tmp_path / "m.csv", TICKETS)), "--kind", "tickets", "--tz", "UTC",
                   "--db", str(db)).returncode == 0  # fmt: skip
    con = connect(db, read_only=True)
    try:
        after = compute(con, Query(("backlog", "backlog_age"), "week", None, date(2024, 4, 1)), load_settings())
        assert after.is_empty()
        explicit = compute(con, Query(("backlog",), "week", None, date(2024, 4, 1)), load_settings(as_of=LATER))
        assert explicit["period_start"].min() == date(2024, 4, 1)  # a moment given is kept: the open two, still open
        assert set(explicit["value"]) == {2}
    finally:
        con.close()
