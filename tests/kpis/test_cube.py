"""The daily KPI cube gives the numbers the raw tables give, and steps aside whenever it could not."""

from __future__ import annotations

import shutil
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import polars as pl
import pytest

from metrics.crises.backtest import data_end
from metrics.kpis.catalog import metric
from metrics.kpis.compute import Query, compute
from metrics.kpis.cube import build_cube, cube_metrics, cube_state
from metrics.kpis.cube_answers import answers
from metrics.kpis.settings import load_settings
from metrics.kpis.sql import CUBE_DIMENSIONS
from pipelines.ingest import ingest_file
from pipelines.warehouse.store import connect
from tests.conftest import write

COLUMNS = ["metric", "segment", "period_start", "value", "numerator", "denominator", "n", "status", "complete"]


@pytest.fixture
def warehouse(demo, tmp_path):
    copy = tmp_path / "cube.duckdb"
    shutil.copy(demo[0], copy)
    con = connect(copy)
    build_cube(con, load_settings(as_of=data_end(con)), histograms=True)  # the demo is below the histograms' size
    yield con
    con.close()


def both(con, query, settings):
    cubed = compute(con, query, settings).select(COLUMNS).sort(COLUMNS[:3])
    raw = compute(con, query, settings, use_cube=False).select(COLUMNS).sort(COLUMNS[:3])
    return cubed, raw


@pytest.mark.parametrize(
    "grain,dimension,date_from,date_to",
    [("day", None, None, None), ("week", "channel", None, None), ("month", "agent", date(2025, 3, 1), None),
     ("quarter", "customer_tier", None, date(2026, 6, 30)), ("range", "category", date(2026, 1, 1), date(2026, 3, 31)),
     ("week", "team", date(2026, 10, 1), None)],
)  # fmt: skip
def test_the_cube_answers_exactly_what_the_raw_tables_answer(warehouse, grain, dimension, date_from, date_to):
    settings = load_settings(as_of=data_end(warehouse))
    state = cube_state(warehouse, settings)
    assert state is not None, "the demo warehouse is built with a current cube"
    names = tuple(m.name for m in cube_metrics(settings) if grain != "range" or m.kind != "backlog")
    assert {"csat", "complaint_rate", "first_response_sla", "ticket_volume", "nps", "mean_score"} <= set(names)
    assert grain == "range" or "backlog" in names
    cubed, raw = both(warehouse, Query(names, grain, dimension, date_from, date_to), settings)
    assert cubed.height == raw.height > 0
    assert cubed.equals(raw)


def test_every_cube_dimension_is_one_the_sidebar_or_the_radar_breaks_down_by():
    from metrics.crises.rules import rules
    from metrics.kpis.catalog import FILTER_DIMENSIONS

    assert set(FILTER_DIMENSIONS) | set(rules()["scan"]["dimensions"]) - {"overall"} <= set(CUBE_DIMENSIONS)


def test_a_load_makes_the_cube_stale_until_it_is_rebuilt(warehouse, tmp_path):
    settings = load_settings(as_of=data_end(warehouse))
    extra = "ticket id,created at,channel\nNEW-1,2026-11-10 09:00,email\nNEW-2,2026-11-10 10:00,email\n"
    ingest_file(warehouse, write(tmp_path / "late.csv", extra), "tickets", source_tz="UTC")  # no marts rebuilt
    assert cube_state(warehouse, settings) is None  # the cube has not seen this batch: the raw tables answer
    query = Query(("ticket_volume",), "day", "channel", date(2026, 11, 10), date(2026, 11, 10))
    email = compute(warehouse, query, settings).filter(pl.col("segment") == "email")["value"].item()
    assert (
        email
        == compute(warehouse, query, settings, use_cube=False).filter(pl.col("segment") == "email")["value"].item()
    )
    build_cube(warehouse, settings)
    assert cube_state(warehouse, settings) is not None
    cubed, raw = both(warehouse, query, settings)
    assert cubed.equals(raw)


def test_other_conventions_or_segment_filters_read_the_raw_tables(warehouse):
    settings = load_settings(as_of=data_end(warehouse))
    stricter = replace(settings, conventions=replace(settings.conventions, first_response_sla_minutes=15))
    assert cube_state(warehouse, stricter) is None
    query = Query(("first_response_sla",), "week", "channel")
    strict = compute(warehouse, query, stricter)
    assert strict["value"].mean() < compute(warehouse, query, settings)["value"].mean()  # 15 minutes is harder
    filtered = Query(("csat",), "week", "channel", filters=(("region", ("East",)),))
    cubed, raw = both(warehouse, filtered, settings)
    assert cubed.equals(raw)


def test_a_breach_counted_as_of_now_is_read_from_the_raw_tables_for_the_last_days(warehouse):
    """An inquiry still unanswered becomes a breach once its hour has passed: recent days cannot come from a cube
    built earlier, so those days are read raw and added to the cube's."""
    end = data_end(warehouse)
    build_cube(warehouse, load_settings(as_of=end + timedelta(days=3)))  # built when every late ticket is a breach
    earlier = load_settings(as_of=end - timedelta(hours=12))  # asked when the last hours' tickets were not yet late
    query = Query(("first_response_sla", "complaint_resolution_sla"), "day", "team")
    cubed, raw = both(warehouse, query, earlier)
    assert cubed.equals(raw)
    unanswered = warehouse.sql(
        f"SELECT count(*) FROM tickets WHERE first_response_at IS NULL AND created_at > TIMESTAMPTZ '{end}' - "
        "INTERVAL 12 HOUR - INTERVAL 1 HOUR"
    ).fetchall()[0][0]
    assert unanswered > 0  # so the last days do differ between the two moments


@pytest.mark.parametrize("name", ["first_response_median", "resolution_p90", "backlog_age"])
def test_one_pass_over_every_dimension_gives_each_dimension_s_own_answer(warehouse, name):
    """The radar reads medians, p90s and backlog ages for all its dimensions in one pass (GROUPING SETS)."""
    from metrics.kpis.compute import compute_dimensions

    settings = load_settings(as_of=data_end(warehouse))
    dimensions = ("overall", "channel", "agent", "customer_tier")
    every = compute_dimensions(warehouse, name, "week", settings, dimensions)
    columns = ["period_start", "segment", "value", "ci_low", "n", "complete"]
    for dimension in dimensions:
        one = compute(warehouse, Query((name,), "week", None if dimension == "overall" else dimension), settings)
        mine = every.filter(pl.col("dimension") == dimension).select(columns).sort("segment", "period_start")
        assert mine.height > 0 and mine.equals(one.select(columns).sort("segment", "period_start")), dimension


@pytest.mark.parametrize("grain,hours_back", [("week", 0), ("day", 30), ("month", 24 * 40 + 5)])
def test_the_backlog_is_the_running_count_of_opened_less_closed_tickets(warehouse, grain, hours_back):
    """Periods that ended come from the cube's opened and closed counts; the one in progress ends at the
    as-of moment, mid-day: the cube's days before it plus that day's raw events, the same counts as the raw join."""
    settings = load_settings(as_of=data_end(warehouse) - timedelta(hours=hours_back))
    query = Query(("backlog",), grain, "channel", date(2026, 3, 1))
    assert answers(cube_state(warehouse, settings), metric("backlog"), query)
    cubed, raw = both(warehouse, query, settings)
    assert cubed.height == raw.height > 20
    assert cubed.equals(raw)
    assert raw["value"].min() > 0


def test_a_mean_from_the_cube_s_sums_has_the_raw_mean_and_interval(warehouse):
    settings = load_settings(as_of=data_end(warehouse))
    query = Query(("mean_score",), "month", "region")
    columns = ["period_start", "segment", "value", "ci_low", "ci_high", "n"]
    cubed = compute(warehouse, query, settings).select(columns).sort(columns[:2])
    raw = compute(warehouse, query, settings, use_cube=False).select(columns).sort(columns[:2])
    assert cubed.height == raw.height > 10
    assert cubed["n"].equals(raw["n"])
    for column in ("value", "ci_low", "ci_high"):
        assert (cubed[column] - raw[column]).abs().max() < 1e-9, column


QUANTILES = ("first_response_median", "first_response_p90", "resolution_median", "resolution_p90")


@pytest.mark.parametrize(
    "grain,dimension,date_from,date_to",
    [("week", "channel", None, None), ("week", "agent", date(2026, 2, 4), date(2026, 5, 19)),
     ("range", "team", date(2026, 3, 4), date(2026, 6, 17)), ("range", None, date(2026, 7, 8), date(2026, 7, 10)),
     ("quarter", "channel", date(2025, 10, 1), date(2026, 6, 30)),
     ("month", None, date(2026, 1, 5), date(2026, 4, 20))],
)  # fmt: skip
def test_medians_and_p90s_from_the_weekly_histograms_are_within_two_percent_of_the_raw_ones(
    warehouse, grain, dimension, date_from, date_to
):
    """Whole weeks come from the histograms, the days of a week the dates (or a month's or quarter's bounds) cut
    are read raw: the same tickets counted, each value within the 2% a bucket spans."""
    settings = load_settings(as_of=data_end(warehouse))
    query = Query(QUANTILES, grain, dimension, date_from, date_to)
    state = cube_state(warehouse, settings)
    assert all(answers(state, metric(name), query) for name in QUANTILES)
    keys = ["metric", "segment", "period_start"]
    cubed = compute(warehouse, query, settings).select(*keys, "value", "ci_low", "ci_high", "n")
    raw = compute(warehouse, query, settings, use_cube=False).select(*keys, "value", "ci_low", "ci_high", "n")
    joined = cubed.join(raw, on=keys, how="full", suffix="_raw", coalesce=True)
    assert joined.height == raw.height == cubed.height > 0
    assert joined["n"].equals(joined["n_raw"].alias("n"))
    for column in ("value", "ci_low", "ci_high"):
        off = (joined[column] - joined[f"{column}_raw"]).abs() / joined[f"{column}_raw"].abs().clip(lower_bound=1)
        assert off.max() <= 0.02, column


def test_a_median_from_the_histograms_is_the_exact_one_when_durations_fall_in_separate_buckets(con, tmp_path):
    rows = ["ticket id,created at,first response at,resolved at,channel"]
    for i in range(1, 52):  # resolved after 10, 20, ..., 510 minutes, all in the week of Monday 2026-03-02
        created = datetime(2026, 3, 4, 8, 0)
        rows.append(f"T{i},{created},{created + timedelta(minutes=1)},{created + timedelta(minutes=10 * i)},chat")
    ingest_file(con, write(tmp_path / "t.csv", "\n".join(rows) + "\n"), "tickets", source_tz="UTC")
    settings = load_settings(as_of=datetime(2026, 3, 20, tzinfo=UTC))
    build_cube(con, settings, histograms=True)
    for grain in ("week", "range"):
        query = Query(("resolution_median", "resolution_p90"), grain, "channel", date(2026, 3, 2), date(2026, 3, 8))
        cubed = compute(con, query, settings).sort("metric")
        assert cubed["value"].to_list() == [260.0, 460.0]  # ranks ceil(51 x 0.5) = 26 and ceil(51 x 0.9) = 46
        assert cubed["n"].to_list() == [51, 51]
        assert cubed.equals(compute(con, query, settings, use_cube=False).sort("metric"))


def test_the_quarters_to_review_are_the_same_from_the_cube_as_from_the_tickets(warehouse):
    from metrics.views.dashboard import quarters

    from_cube = quarters(warehouse)
    warehouse.execute("DELETE FROM kpi_cube_meta")  # no current cube: the tickets are read
    assert from_cube == quarters(warehouse)
    # The newest quarter is in progress; the oldest, 2024Q4, began before the demo's data (2024-11-18).
    assert len(from_cube) >= 4 and from_cube[0][1] is False and from_cube[-2][1] is True
    assert from_cube[-1] == ("2024Q4", False)


@pytest.mark.parametrize(
    "grain,dimension,hours_back", [("week", "channel", 0), ("month", "team", 30), ("quarter", None, 24 * 20 + 7)]
)
def test_backlog_ages_at_period_ends_from_the_cube_are_within_two_percent_of_the_raw_join(
    warehouse, grain, dimension, hours_back
):
    """The ages of the tickets open at each week's, month's and quarter's end are kept per end; the period in
    progress (it ends at the as-of moment) is read raw."""
    settings = load_settings(as_of=data_end(warehouse) - timedelta(hours=hours_back))
    query = Query(("backlog_age",), grain, dimension, date(2025, 6, 1))
    assert answers(cube_state(warehouse, settings), metric("backlog_age"), query)
    keys = ["segment", "period_start"]
    cubed = compute(warehouse, query, settings).select(*keys, "value", "n")
    raw = compute(warehouse, query, settings, use_cube=False).select(*keys, "value", "n")
    joined = cubed.join(raw, on=keys, how="full", suffix="_raw", coalesce=True)
    assert joined.height == raw.height == cubed.height > 3
    assert joined["n"].equals(joined["n_raw"].alias("n"))
    assert ((joined["value"] - joined["value_raw"]).abs() / joined["value_raw"]).max() <= 0.02
    daily = Query(("backlog_age",), "day", dimension, date(2025, 6, 1))
    assert not answers(cube_state(warehouse, settings), metric("backlog_age"), daily)  # daily ends are not kept


def test_a_cube_without_histograms_reads_medians_and_backlog_ages_raw_and_exact(warehouse):
    settings = load_settings(as_of=data_end(warehouse))
    build_cube(warehouse, settings, histograms=False)
    state = cube_state(warehouse, settings)
    query = Query(("resolution_median", "backlog_age"), "week", "channel")
    assert state is not None and not any(answers(state, metric(name), query) for name in query.metrics)
    assert warehouse.sql("SELECT count(*) FROM kpi_histogram").fetchall() == [(0,)]
    cubed, raw = both(warehouse, query, settings)
    assert cubed.height > 0 and cubed.equals(raw)


def test_histograms_are_built_at_every_size(warehouse):
    """The demo's few thousand tickets get histograms too: no median question falls back to raw rows."""
    settings = load_settings(as_of=data_end(warehouse))
    build_cube(warehouse, settings)
    state = cube_state(warehouse, settings)
    query = Query(("resolution_median", "first_response_p90", "backlog_age"), "week", "channel")
    assert state is not None and all(answers(state, metric(name), query) for name in query.metrics)
    assert warehouse.sql("SELECT count(*) FROM kpi_histogram").fetchall()[0][0] > 0
