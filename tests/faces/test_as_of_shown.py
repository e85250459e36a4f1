"""Every face says which moment "now" is: the sidebar of every page, the command line and the review.

The moment is the data's own (the latest as-of of its loaded batches), never the wall clock: a
warehouse whose data ended weeks ago reads as of its end, and an empty one says nothing is loaded.
"""

from __future__ import annotations

import io
import json
from datetime import UTC, date, datetime
from pathlib import Path

import polars as pl
import pytest

from metrics.reports.review import quarterly_review, render_html, write_excel
from metrics.views.summary import WarehouseSummary
from pipelines.warehouse.store import connect
from tests.conftest import ROOT, run_cli, write
from tests.faces.test_app import open_page

PAGE_FILES = sorted(p.stem for p in (ROOT / "pages").glob("*.py") if not p.name.startswith("_"))
# The export's last event: a ticket closed on Tuesday 2026-10-20 at 17:45 UTC, weeks before today.
LAST_EVENT = "Data as of 2026-10-20 17:45 UTC"


def old_tickets(folder: Path) -> Path:
    """Three months of tickets that end on 2026-10-20, in headers of our own spelling."""
    lines = ["Case Number,Opened On,Closed On,Queue"]
    for day in range(90):
        month, dom = divmod(day, 30)
        lines.append(f"CN-{day},2026-{7 + month:02d}-{dom + 1:02d} 09:00,2026-{7 + month:02d}-{dom + 1:02d} 11:30,Mail")
    lines.append("CN-last,2026-10-20 08:00,2026-10-20 17:45,Phone")
    return write(folder / "old.csv", "\n".join(lines) + "\n")


@pytest.fixture(scope="module")
def old_warehouse(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("as_of")
    db = folder / "old.duckdb"
    loaded = run_cli("ingest", str(old_tickets(folder)), "--kind", "tickets", "--tz", "UTC", "--db", str(db))
    assert loaded.returncode == 0, loaded.stderr
    return db


def sidebar_captions(db: Path, page: str, monkeypatch) -> list[str]:
    monkeypatch.setenv("CSAT_RADAR_DB", str(db))
    return [c.value for c in open_page(page).sidebar.caption]


@pytest.mark.parametrize("page", PAGE_FILES)
def test_every_page_s_sidebar_says_the_data_s_moment(old_warehouse, page, monkeypatch):
    assert LAST_EVENT in sidebar_captions(old_warehouse, page, monkeypatch)


def test_an_empty_warehouse_s_sidebar_says_no_data_is_loaded(tmp_path, monkeypatch):
    db = tmp_path / "empty.duckdb"
    connect(db).close()
    captions = sidebar_captions(db, "overview", monkeypatch)
    assert "No data loaded yet" in captions
    assert not any(c.startswith("Data as of") for c in captions)


def test_kpis_crises_and_status_say_the_moment_in_text_and_keep_json_clean(old_warehouse):
    db = str(old_warehouse)
    for command in (("kpis", "--grain", "month"), ("crises",), ("status",)):
        text = run_cli(*command, "--db", db)
        assert text.returncode == 0, text.stderr
        assert text.stdout.splitlines()[0] == LAST_EVENT, (command, text.stdout[:200])
    for command in (("kpis", "--grain", "month", "--json"), ("crises", "--json")):
        machine = run_cli(*command, "--db", db)
        assert machine.returncode == 0, machine.stderr
        assert isinstance(json.loads(machine.stdout), list), "the records stay a JSON array"
        assert LAST_EVENT in machine.stderr.splitlines()
    csv = run_cli("kpis", "--grain", "month", "--csv", "--db", db)
    assert csv.stdout.startswith("period_start,") and LAST_EVENT in csv.stderr.splitlines()
    status = json.loads(run_cli("status", "--json", "--db", db).stdout)
    assert status["as_of"] == "2026-10-20T17:45:00+00:00" and status["tickets"] == 91


def test_status_of_an_empty_warehouse_says_so(tmp_path):
    db = tmp_path / "empty.duckdb"
    connect(db).close()
    text = run_cli("status", "--db", str(db))
    assert text.stdout.splitlines()[0] == "No data loaded yet"
    assert json.loads(run_cli("status", "--json", "--db", str(db)).stdout)["as_of"] is None


def test_the_review_states_its_moment_in_html_excel_and_the_command_s_line(old_warehouse, tmp_path):
    con = connect(old_warehouse, read_only=True)
    try:
        review = quarterly_review(con, "2026Q3")
    finally:
        con.close()
    assert LAST_EVENT in render_html(review)
    buffer = io.BytesIO()
    write_excel(review, buffer)
    about = pl.read_excel(io.BytesIO(buffer.getvalue()), sheet_name="Review")
    assert dict(about.iter_rows())["Data as of"] == "2026-10-20 17:45 UTC"
    made = run_cli("report", "--quarter", "2026Q3", "--out", str(tmp_path / "q.html"), "--db", str(old_warehouse))
    assert made.returncode == 0, made.stderr
    assert LAST_EVENT in made.stdout


def test_the_dates_end_on_the_last_day_the_data_describes_not_on_its_last_event():
    def last_day(last_event: datetime, as_of: datetime | None):
        return WarehouseSummary({}, last_event, last_event, None, pl.DataFrame(), as_of).last_day

    sunday = datetime(2026, 7, 5, 16, 0, tzinfo=UTC)
    # Taken at midnight after a quiet Sunday: the Sunday is covered, so the week of 2026-06-29 is whole.
    assert last_day(datetime(2026, 7, 2, 9, 30, tzinfo=UTC), datetime(2026, 7, 6, tzinfo=UTC)) == date(2026, 7, 5)
    assert last_day(sunday, sunday) == date(2026, 7, 5)  # as-of = the last event: that day, in progress
    assert last_day(sunday, None) == date(2026, 7, 5)
    assert last_day(datetime(2026, 7, 6, tzinfo=UTC), datetime(2026, 7, 6, tzinfo=UTC)) == date(2026, 7, 6)
