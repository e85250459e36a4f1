"""The scan reads each series once for every dimension, the complaints once for every window and each place's
breakdowns once for every crisis it explains: same numbers."""

from __future__ import annotations

from datetime import timedelta

import duckdb
import polars as pl
import pytest

from metrics.crises.backtest import data_end
from metrics.crises.classify import Window, information_shares
from metrics.crises.contributors import contributors
from metrics.crises.radar import scan
from metrics.kpis.compute import Query, compute
from metrics.kpis.cube_series import series_by_dimension
from metrics.kpis.settings import load_settings

DIMENSIONS = ("overall", "channel", "team", "category", "customer_tier")
COLUMNS = ["dimension", "segment", "period_start", "numerator", "denominator", "value", "complete", "reason"]


@pytest.fixture
def demo_con(demo):
    con = duckdb.connect(str(demo[0]), read_only=True)
    yield con, load_settings(as_of=data_end(con))
    con.close()


@pytest.mark.parametrize("name", ["csat", "complaint_rate", "ticket_volume", "first_response_sla"])
@pytest.mark.parametrize("grain", ["week", "day"])
def test_every_dimension_read_at_once_from_the_cube_is_what_compute_gives_one_dimension_at_a_time(
    demo_con, name, grain
):
    con, settings = demo_con
    together = series_by_dimension(con, name, grain, settings, DIMENSIONS)
    assert together is not None, "the demo warehouse has its cube: the scan reads it"
    one_by_one = pl.concat(
        compute(con, Query((name,), grain, None if d == "overall" else d), settings).with_columns(
            pl.lit(d).alias("dimension")
        )
        for d in DIMENSIONS
    )
    keys = ["dimension", "segment", "period_start"]
    columns = [c for c in COLUMNS if c in together.columns]  # a count has no numerator
    got = together.select(columns).cast({c: one_by_one.schema[c] for c in columns}).sort(keys)
    want = one_by_one.select(columns).sort(keys)
    assert got.height == want.height > 0
    assert got.equals(want)


def test_without_a_cube_the_scan_is_told_to_read_the_rows(con):
    settings = load_settings()
    assert series_by_dimension(con, "csat", "week", settings, DIMENSIONS) is None


def test_each_windows_information_share_does_not_depend_on_the_others_asked_with_it(demo_con):
    con, settings = demo_con
    last = data_end(con).date() - timedelta(days=14)
    windows = [
        Window("overall", "all", last - timedelta(days=21), last),
        Window("channel", "email", last - timedelta(days=56), last - timedelta(days=28)),
        Window("category", "wrong information", last - timedelta(days=7), last),
        Window("team", "no such team", last - timedelta(days=7), last),
    ]
    together = information_shares(con, settings, windows, "week")
    alone = [information_shares(con, settings, [w], "week")[0] for w in windows]
    assert together == alone
    assert together[3] is None  # no complaints there: no extra complaints to share out
    assert all(share is None or 0.0 <= share <= 1.0 for share in together)
    assert information_shares(con, settings, [], "week") == []


@pytest.mark.parametrize("grain", ["week", "day"])
def test_each_crisis_is_explained_as_its_window_alone_would_explain_it(demo_con, grain):
    """A scan queries each place once for all the windows it explains: each crisis's contributors are
    those its own window gives when asked alone."""
    con, settings = demo_con
    found = scan(con, settings, grain, explain=True).crises
    explained = [c for c in found if c.contributors]
    assert len(explained) >= 3, "the demo's crises are explained"
    for crisis in explained:
        alone = contributors(
            con, settings, crisis.metric, crisis.dimension, crisis.segment, crisis.start, crisis.last_flagged, grain
        )
        assert rounded([c.as_dict() for c in alone]) == rounded(crisis.contributors), (crisis.dimension, crisis.segment)


def rounded(records: list[dict]) -> list[dict]:
    """Records with their floats to 9 digits: sums over a longer query may differ in the last bits."""
    return [{k: round(v, 9) if isinstance(v, float) else v for k, v in r.items()} for r in records]
