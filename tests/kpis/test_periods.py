"""Periods know whether they are whole: the data covers them from their first day, the chosen dates hold
all of them, and they ended by the data's moment; a change is only between two whole periods.

The data here starts on Thursday 2026-04-16 (mid-week, mid-month, mid-quarter) and its export
describes everything up to 2026-06-01.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from metrics.kpis.compute import Query, compute, compute_dimensions, with_changes
from metrics.kpis.periods import coverage
from metrics.kpis.settings import settings_for
from pipelines.ingest import ingest_file
from tests.conftest import daily_tickets, write

FIRST_DAY, LAST_DAY = date(2026, 4, 16), date(2026, 5, 31)
EXPORT_END = datetime(2026, 6, 1, tzinfo=UTC)


@pytest.fixture
def mid_month(con, tmp_path):
    export = write(tmp_path / "cases.csv", daily_tickets(FIRST_DAY, LAST_DAY))
    ingest_file(con, export, "tickets", source_tz="UTC", as_of=EXPORT_END)
    return con


def complete_by_period(con, grain: str, **dates) -> dict[date, bool]:
    result = compute(con, Query(("ticket_volume",), grain, **dates), settings_for(con))
    return dict(zip(result["period_start"], result["complete"], strict=True))


def test_periods_begun_before_the_data_are_not_complete(mid_month):
    weeks = complete_by_period(mid_month, "week")
    # The week of 13 April holds only its Thursday to Sunday; every later week is whole up to 1 June.
    assert weeks[date(2026, 4, 13)] is False
    assert all(weeks[date(2026, 4, 20) + timedelta(weeks=i)] for i in range(6))
    months = complete_by_period(mid_month, "month")
    assert months == {date(2026, 4, 1): False, date(2026, 5, 1): True}
    assert complete_by_period(mid_month, "quarter") == {date(2026, 4, 1): False}
    # The radar's medians (read for every dimension in one pass) follow the same rule.
    medians = compute_dimensions(mid_month, "first_response_median", "week", settings_for(mid_month), ("overall",))
    assert dict(zip(medians["period_start"], medians["complete"], strict=True))[date(2026, 4, 13)] is False


def test_weeks_cut_by_the_chosen_dates_are_not_complete(mid_month):
    # Wednesday 22 April to Tuesday 12 May: two days of the first week, two of the last.
    weeks = complete_by_period(mid_month, "week", date_from=date(2026, 4, 22), date_to=date(2026, 5, 12))
    assert weeks == {
        date(2026, 4, 20): False,
        date(2026, 4, 27): True,
        date(2026, 5, 4): True,
        date(2026, 5, 11): False,
    }
    # Dates on the weeks' own bounds cut nothing.
    weeks = complete_by_period(mid_month, "week", date_from=date(2026, 4, 27), date_to=date(2026, 5, 10))
    assert weeks == {date(2026, 4, 27): True, date(2026, 5, 4): True}


def test_no_change_is_computed_next_to_an_incomplete_period(mid_month):
    query = Query(("ticket_volume",), "week", date_to=date(2026, 5, 12))
    changes = with_changes(compute(mid_month, query, settings_for(mid_month)))
    rows = {r["period_start"]: r for r in changes.iter_rows(named=True)}
    # 24 tickets in the 4 days of the first week, 42 in the next: not a rise of 18.
    assert rows[date(2026, 4, 20)]["previous_value"] == 24
    assert rows[date(2026, 4, 20)]["change"] is None and rows[date(2026, 4, 20)]["change_significant"] is None
    # Between two whole weeks the change and its test are there.
    assert rows[date(2026, 4, 27)]["change"] == 0 and rows[date(2026, 4, 27)]["change_significant"] is False
    # 12 tickets on the Monday and Tuesday of the last week: not a drop of 30.
    assert rows[date(2026, 5, 11)]["value"] == 12
    assert rows[date(2026, 5, 11)]["change"] is None and rows[date(2026, 5, 11)]["change_p_value"] is None


def test_the_latest_complete_week_lies_within_the_dates_and_the_data(mid_month):
    settings = settings_for(mid_month)
    assert coverage(mid_month, settings).first_day == FIRST_DAY
    assert coverage(mid_month, settings, date(2026, 5, 1), date(2026, 5, 31)).latest_complete("week") == date(
        2026, 5, 25
    )
    # Ending on a Tuesday, the dates' last whole week is the one before.
    assert coverage(mid_month, settings, None, date(2026, 5, 12)).latest_complete("week") == date(2026, 5, 4)
    # Wednesday to Sunday holds no whole week; nor does anything before the data's first whole week.
    assert coverage(mid_month, settings, date(2026, 5, 13), date(2026, 5, 17)).latest_complete("week") is None
    assert coverage(mid_month, settings, date(2026, 4, 1), date(2026, 4, 19)).latest_complete("week") is None
    assert coverage(mid_month, settings).latest_complete("month") == date(2026, 5, 1)
    assert coverage(mid_month, settings).latest_complete("quarter") is None
