"""The Overview's "what changed" paragraph against the numbers it tells, on the demo warehouse (seeded)."""

from __future__ import annotations

import dataclasses
import json
from datetime import date, timedelta

import duckdb
import polars as pl
import pytest

from metrics.kpis.compute import Query, compute, with_changes
from metrics.kpis.formats import format_target, format_value
from metrics.kpis.messages import say
from metrics.kpis.scope import View
from metrics.kpis.settings import Target, load_settings, on_data_clock
from metrics.views import dashboard


@pytest.fixture(scope="module")
def con(demo):
    connection = duckdb.connect(str(demo[0]), read_only=True)
    yield connection
    connection.close()


def latest_two_weeks(con, name: str) -> tuple[date, float, float]:
    """The latest complete week of ``name`` overall, its value and the previous week's, computed here."""
    settings = on_data_clock(con, load_settings())
    weeks = with_changes(compute(con, Query((name,), "week"), settings)).filter(pl.col("complete"))
    latest = weeks.sort("period_start").row(-1, named=True)
    return latest["period_start"], latest["value"], latest["previous_value"]


def test_a_target_that_changed_sides_is_named_with_its_numbers_and_others_are_not(con):
    week, value, before = latest_two_weeks(con, "csat")
    assert value != before
    # A CSAT target between the two weeks is crossed; a complaint-rate ceiling far above both is not.
    settings = dataclasses.replace(
        load_settings(),
        targets=(Target("csat", "min", (value + before) / 2), Target("complaint_rate", "max", 0.99)),
    )
    told = dashboard.what_changed(con, settings, View())
    target = format_target("min", (value + before) / 2, "percent")
    verb = "now meets" if value > before else "now misses"
    assert told.week == week
    assert f"In the week of {week:%Y-%m-%d}:" in told.text
    expected = (
        f"CSAT {verb} its target {target} ({format_value(value, 'percent')}, was {format_value(before, 'percent')})"
    )
    assert expected in told.text
    assert "Complaint rate now" not in told.text
    assert told.crossed["metric"].to_list() == ["csat"]

    chinese = dashboard.what_changed(con, settings, View(language="zh")).text
    assert f"客户满意度{'现已达到' if value > before else '现未达到'}目标 {target}" in chinese
    for english in ("In the week of", "now meets", "now misses", "Open crises", "No crisis", "beyond noise"):
        assert english not in chinese


def test_with_no_target_crossed_the_paragraph_says_so(con):
    _, value, before = latest_two_weeks(con, "csat")
    far = dataclasses.replace(load_settings(), targets=(Target("csat", "min", min(value, before) / 2),))
    told = dashboard.what_changed(con, far, View())
    assert told.crossed.is_empty()
    assert "no target changed sides" in told.text
    assert "没有指标越过目标线" in dashboard.what_changed(con, far, View(language="zh")).text


def test_the_biggest_change_is_placed_in_the_segment_an_injected_event_hit(con, demo):
    """A sudden event multiplies one region's tickets: in that week the paragraph places the change there."""
    truth = json.loads(demo[1].read_text())
    event = next(c for c in truth if c["type"] == "sudden_event")
    start, end = date.fromisoformat(event["start"]), date.fromisoformat(event["end"])
    middle = start + (end - start) / 2
    sunday = middle + timedelta(days=6 - middle.weekday())
    told = dashboard.what_changed(con, load_settings(), View(date_to=sunday))
    assert told.week == sunday - timedelta(days=6)
    biggest = told.biggest
    assert biggest is not None
    assert (biggest["dimension"], biggest["segment"]) == (event["dimension"], event["segment"])
    assert f"most in {event['dimension']} {event['segment']}" in told.text
    # The overall change told is the computed one, and it is significant.
    settings = on_data_clock(con, load_settings())
    weeks = with_changes(compute(con, Query((biggest["metric"],), "week", None, None, sunday), settings))
    row = weeks.filter(pl.col("period_start") == told.week).row(0, named=True)
    assert row["change_significant"] and row["change"] == pytest.approx(biggest["change"])
    chinese = dashboard.what_changed(con, load_settings(), View(date_to=sunday, language="zh")).text
    assert f"主要在 {say(event['dimension'], 'zh')} {event['segment']}" in chinese


def test_with_no_complete_week_it_says_so_and_still_counts_the_open_crises(con):
    week, *_ = latest_two_weeks(con, "csat")
    midweek = View(week + timedelta(days=1), week + timedelta(days=3))
    told = dashboard.what_changed(con, load_settings(), midweek)
    assert told.week is None and told.biggest is None
    assert told.text.startswith("No whole week lies within the chosen dates")
    counts = dashboard.open_crises_by_severity(con, load_settings(), midweek)
    if not any(counts.values()):
        assert told.text.endswith("No crisis is open.")
    for severity, count in counts.items():
        if count:
            assert f"{count} {severity}" in told.text
    chinese = dashboard.what_changed(con, load_settings(), dataclasses.replace(midweek, language="zh")).text
    assert chinese.startswith("所选日期内没有完整的一周")
