"""What a user sees of periods cut short: ``kpis`` says ``complete`` on every record, the Overview shows
only whole weeks within the chosen dates (and no arrow against a partial one), Trends greys each partial end.

The data starts on Thursday 2026-04-16 and its export describes everything up to 2026-06-01.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import date

import polars as pl
import pytest

from metrics.kpis.scope import View
from metrics.kpis.settings import load_settings
from metrics.views.dashboard import kpi_series
from pipelines.warehouse.store import connect
from tests.conftest import daily_tickets, run_cli, write
from tests.faces.test_app import open_page, tiles


@pytest.fixture
def mid_week(tmp_path, monkeypatch):
    db = tmp_path / "w.duckdb"
    export = write(tmp_path / "cases.csv", daily_tickets(date(2026, 4, 16), date(2026, 5, 31)))
    loaded = run_cli(
        "ingest", str(export), "--kind", "tickets", "--tz", "UTC", "--as-of", "2026-05-31", "--db", str(db)
    )
    assert loaded.returncode == 0, loaded.stderr
    monkeypatch.setenv("CSAT_RADAR_DB", str(db))
    return db


def test_kpis_json_csv_and_text_say_which_periods_are_complete(mid_week):
    # Wednesday 22 April to Tuesday 12 May: five days of the first week are in range, two of the last.
    asked = ("kpis", "--metric", "ticket_volume", "--from", "2026-04-22", "--to", "2026-05-12", "--db", str(mid_week))
    answered = run_cli(*asked, "--json")
    assert answered.returncode == 0, answered.stderr
    records = json.loads(answered.stdout)
    assert all("complete" in r for r in records)
    assert {r["period_start"]: (r["value"], r["complete"]) for r in records} == {
        "2026-04-20": (30, False),
        "2026-04-27": (42, True),
        "2026-05-04": (42, True),
        "2026-05-11": (12, False),
    }
    # The data begins on a Thursday: its first week and month are not whole, whatever the dates.
    months = json.loads(run_cli("kpis", "--json", "--metric", "ticket_volume", "--grain", "month",
                                "--db", str(mid_week)).stdout)  # fmt: skip
    assert [(r["period_start"], r["complete"]) for r in months] == [("2026-04-01", False), ("2026-05-01", True)]
    rows = list(csv.DictReader(io.StringIO(run_cli(*asked, "--csv").stdout)))
    assert [row["complete"] for row in rows] == ["false", "true", "true", "false"]
    as_of, *lines = run_cli(*asked).stdout.splitlines()
    assert as_of.startswith("Data as of ")
    assert [line.endswith("(incomplete)") for line in lines] == [True, False, False, True], lines


def test_overview_shows_the_latest_week_whole_within_the_dates(mid_week):
    # To Tuesday 26 May: the week of 25 May holds two days of it and is not the latest complete week.
    app = open_page("overview", query={"from": "2026-05-01", "to": "2026-05-26"})
    assert any("Latest complete week, starting 2026-05-18" in c.value for c in app.caption), [
        c.value for c in app.caption
    ]
    assert tiles(app)["Tickets"] == "42"


def test_overview_shows_no_arrow_against_a_week_the_data_began_in(mid_week):
    # From the data's first day, Thursday 16 April, to Sunday 26 April: the week of 20 April is the only whole one.
    app = open_page("overview", query={"from": "2026-04-16", "to": "2026-04-26"})
    tickets = next(m for m in app.metric if m.label == "Tickets")
    assert tickets.value == "42"
    assert not tickets.delta, f"an arrow against a 4-day week: {tickets.delta}"


def test_overview_says_so_when_no_week_within_the_dates_is_complete(mid_week):
    app = open_page("overview", query={"from": "2026-05-13", "to": "2026-05-17"})  # Wednesday to Sunday
    assert not app.metric
    assert any("No week within the chosen dates is complete" in i.value for i in app.info)


def test_trends_greys_the_partial_weeks_at_both_ends_and_not_between(mid_week):
    app = open_page("trends", query={"from": "2026-05-01", "to": "2026-05-26"})
    app.selectbox(key="trend_metric").set_value("ticket_volume").run()
    assert not app.exception
    spec = json.loads(app.get("plotly_chart")[0].proto.spec)
    greyed = [(s["x0"][:10], s["x1"][:10]) for s in spec["layout"].get("shapes", []) if s.get("type") == "rect"]
    assert greyed == [("2026-04-27", "2026-05-04"), ("2026-05-25", "2026-06-01")]
    table = app.dataframe[-1].value
    assert list(table["Whole period"]) == ["no", "yes", "yes", "yes", "no"]


def test_report_says_no_quarter_is_whole_rather_than_reviewing_a_partial_one(mid_week, tmp_path):
    # April 16 to May 31: 2026Q1 holds no data and 2026Q2 began before it, so there is no quarter to review.
    made = run_cli("report", "--out", str(tmp_path / "review.html"), "--db", str(mid_week))
    assert made.returncode != 0
    assert "the data covers no quarter whole yet; name one with --quarter" in made.stderr
    assert not (tmp_path / "review.html").exists()


def test_trends_flags_no_partial_week_outside_the_control_limits(tmp_path):
    # Every ticket of the data's first four days (Thursday to Sunday) is answered after three hours.
    lines = daily_tickets(date(2026, 4, 16), date(2026, 5, 31)).splitlines()
    late = [line.split(",") for line in lines if line.startswith("K-2026041")]
    for cells in late:
        cells[2] = cells[3]  # answered when solved, five hours on
    rows = [lines[0], *(",".join(cells) for cells in late), *(line for line in lines[1:] if line[:9] != "K-2026041")]
    db = tmp_path / "late.duckdb"
    export = write(tmp_path / "late.csv", "\n".join(rows) + "\n")
    assert run_cli("ingest", str(export), "--kind", "tickets", "--tz", "UTC", "--db", str(db)).returncode == 0
    con = connect(db, read_only=True)
    try:
        series = kpi_series(con, load_settings(), View(), "first_response_sla", "week")
    finally:
        con.close()
    first = series.filter(pl.col("period_start") == date(2026, 4, 13)).row(0, named=True)
    assert first["value"] == 0 and first["value"] < first["lcl"]
    assert not first["below_limit"], "a four-day week flagged outside the limits"
    assert first["complete"] is False
