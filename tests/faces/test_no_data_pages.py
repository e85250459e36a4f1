"""The pages say "no data" and which column would give it, where a KPI's inputs are absent, never 0.

A ticket export without first-response times used to show 0.0% "Inquiries answered within 1 h"
on the Overview (the median beside it showed "–").
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from pipelines.ingest import ingest_file
from pipelines.warehouse.store import connect
from tests.conftest import write
from tests.faces.test_app import open_page, tiles

REASON = "no first-response times in the data (column first_response_at)"
# Two whole weeks of tickets, resolved but never with a first-response time; the second half of
# them complaints (Kind column), which the generic profile reads as the category.
TICKETS = "Ticket No,Opened,Via,Is Complaint,Solved At\n" + "".join(
    f"W-{day}-{hour},2026-06-{day:02d} {hour:02d}:00,{'web' if hour % 2 else 'phone'},{'yes' if hour > 15 else 'no'},"
    f"2026-06-{day:02d} {hour + 2:02d}:30\n"
    for day in range(1, 15)
    for hour in range(9, 18)
)


@pytest.fixture
def no_first_responses(tmp_path, monkeypatch):
    db = tmp_path / "w.duckdb"
    con = connect(db)
    try:
        ingest_file(con, write(tmp_path / "t.csv", TICKETS), "tickets", source_tz="UTC",
                    as_of=datetime(2026, 6, 15, tzinfo=UTC))  # fmt: skip
    finally:
        con.close()
    monkeypatch.setenv("CSAT_RADAR_DB", str(db))
    return db


def test_overview_tile_says_no_data_and_names_the_column(no_first_responses):
    app = open_page("overview")
    shown = tiles(app)
    assert shown["Inquiries answered within 1 h"] == "–"
    assert shown["Tickets"] == f"{9 * 7:,}"  # the latest complete week, 8 to 14 June
    assert shown["Complaints resolved within 24 h"] not in ("–", "0.0%")
    captions = [c.value.replace("\\", "") for c in app.caption]  # as markdown shows them, marks unescaped
    assert REASON in captions, captions
    assert any("no data" in m.value for m in app.markdown)


def test_trends_say_which_periods_have_no_data_and_why(no_first_responses):
    app = open_page("trends")
    app.selectbox(key="trend_metric").set_value("first_response_sla")
    app.run()
    assert not app.exception, app.exception
    captions = [c.value for c in app.caption]
    assert any(c.startswith("No data in 2 of the periods shown") and REASON in c for c in captions), captions
    table = app.dataframe[-1].value
    assert set(table["Why no data"]) == {REASON} and (table["Value"] == "–").all()
