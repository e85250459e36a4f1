"""The quarterly review calls a quarter complete only when the data covers it whole, from its first day,
and compares a quarter with the one before only when both are whole.

The data here runs from Wednesday 2026-02-11 to 2026-07-05: 2026Q1 began before it, 2026Q3 is in progress.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from metrics.reports.review import last_complete_quarter, quarterly_review
from metrics.views.dashboard import quarters
from pipelines.ingest import ingest_file
from tests.conftest import daily_tickets, write


def load(con, tmp_path, first: date, last: date):
    export = write(tmp_path / "cases.csv", daily_tickets(first, last, per_day=2))
    ingest_file(con, export, "tickets", source_tz="UTC", as_of=datetime(2026, 7, 6, tzinfo=UTC))
    return con


@pytest.fixture
def from_february(con, tmp_path):
    return load(con, tmp_path, date(2026, 2, 11), date(2026, 7, 5))


def test_a_quarter_the_data_begins_in_is_not_complete(from_february):
    assert quarters(from_february) == [("2026Q3", False), ("2026Q2", True), ("2026Q1", False)]
    assert last_complete_quarter(from_february) == "2026Q2"


def test_no_complete_quarter_when_the_data_begins_within_the_last_ended_one(con, tmp_path):
    load(con, tmp_path, date(2026, 5, 10), date(2026, 7, 5))
    assert quarters(con) == [("2026Q3", False), ("2026Q2", False)]
    assert last_complete_quarter(con) is None


def test_the_review_compares_no_quarter_with_one_the_data_began_in(from_february):
    kpis = quarterly_review(from_february, "2026Q2").kpis
    volume = kpis.filter(kpis["metric"] == "ticket_volume").row(0, named=True)
    assert volume["value"] == "182"  # 91 days of two tickets
    # 2026Q1 holds 49 days of data: a rise of 84 on it would be no rise at all.
    assert volume["previous_quarter"] == "98 (incomplete)"
    assert volume["change"] == "–" and volume["change_significant"] == "–"
