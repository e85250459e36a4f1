"""Slow slides caught within weeks, and calm series left alone.

Synthetic weekly series built with polars and a seeded generator: no warehouse, seconds to run.
"""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import polars as pl

from metrics.crises.detectors import peers, proportion_chart, ramp_score
from metrics.crises.flag import judge
from metrics.crises.rules import KEYS

WEEKS = 80
FIRST = date(2025, 1, 6)  # a Monday
SLIDE_FROM = 50  # the week the slide begins
PRODUCTS = ("Broadband", "Mobile", "TV", "Hub", "Security")


def csat_weeks(n: int, slope_points: float, common_dip: float = 0.0, seed: int = 1) -> pl.DataFrame:
    """Weekly dissatisfied answers of five products, ``n`` answers each a week, 9% dissatisfied.

    The first product slides by ``slope_points`` a week from week ``SLIDE_FROM``; ``common_dip``
    points hit every product alike for six weeks from week 30 (a season, not a crisis).
    """
    rng = np.random.default_rng(seed)
    week = np.arange(WEEKS)
    rows = []
    for index, product in enumerate(PRODUCTS):
        share = np.full(WEEKS, 0.09)
        share += np.where((week >= 30) & (week < 36), common_dip / 100, 0.0)
        if index == 0:
            share += np.where(week >= SLIDE_FROM, slope_points / 100 * (week - SLIDE_FROM + 1), 0.0)
        rows.append(
            pl.DataFrame(
                {
                    "metric": "csat",
                    "dimension": "product",
                    "segment": product,
                    "period_start": [FIRST + timedelta(weeks=int(w)) for w in week],
                    "bad": rng.binomial(n, share).astype(np.float64),
                    "n": float(n),
                }
            )
        )
    return pl.concat(rows)


def flagged_weeks(proportions: pl.DataFrame) -> pl.DataFrame:
    charted, _, _ = judge(proportions, pl.DataFrame(), "week")
    return charted.filter("flagged")


def test_a_slide_of_a_point_a_week_is_flagged_within_three_weeks():
    """1,500 answers a week per product (a large organisation): in each of five histories the slide is
    raised by its fourth week at the latest (0-based week 3, a delay of 21 days as the backtest
    counts it), by the slide detector, and no other product is flagged."""
    slide_start = FIRST + timedelta(weeks=SLIDE_FROM)
    for seed in range(2, 7):
        flagged = flagged_weeks(csat_weeks(1500, slope_points=1.0, seed=seed))
        first = flagged.filter(pl.col("segment") == "Broadband").sort("period_start").row(0, named=True)
        assert slide_start <= first["period_start"] <= slide_start + timedelta(weeks=3), (seed, first["period_start"])
        assert first["slide"] and first["drift"]
        assert set(flagged["segment"]) == {"Broadband"}, seed


def test_a_calm_series_of_the_same_size_raises_nothing_and_a_season_is_no_slide():
    """No slide: nothing flagged. A three-point dip hitting every product alike for six weeks is no
    slide in any of them (each is judged against its peers), whatever the step detectors say of it."""
    assert flagged_weeks(csat_weeks(1500, slope_points=0.0, seed=2)).is_empty()
    assert flagged_weeks(csat_weeks(1500, slope_points=0.0, common_dip=3.0, seed=2)).filter("slide").is_empty()


def test_the_ramp_score_reports_the_rise_beyond_the_peers():
    """A noiseless ramp of half a point a week since four weeks, on top of a two-point rise of every
    product: the best-fitting ramp is four weeks long and has risen 1.75 points (3.5 weeks of slope)."""
    weeks = 40
    frames = []
    for product, slope in (("Broadband", 0.005), ("Mobile", 0.0), ("TV", 0.0)):
        week = np.arange(weeks)
        into = np.clip(week - (weeks - 4), -1, None) + 0.5  # 0.5, 1.5, 2.5, 3.5 in the last four weeks
        share = 0.10 + np.where(week >= weeks - 4, 0.02 + slope * into, 0.0)
        frames.append(
            pl.DataFrame(
                {
                    "metric": "csat",
                    "dimension": "product",
                    "segment": product,
                    "period_start": [FIRST + timedelta(weeks=int(w)) for w in week],
                    "bad": share * 1000,
                    "n": 1000.0,
                }
            )
        )
    charted = proportion_chart(peers(pl.concat(frames), KEYS), KEYS)
    scored = ramp_score(charted, KEYS, [3, 4, 5, 6], baseline=26, guard=2)
    last = scored.filter(pl.col("period_start") == FIRST + timedelta(weeks=weeks - 1)).sort("segment")
    rises = dict(zip(last["segment"], last["ramp_rise"], strict=True))
    assert abs(rises["Broadband"] - 0.0175) < 0.002, rises
    # The others moved with the season, less than their peers (which include the slide): no rise.
    assert rises["Mobile"] <= 0 and rises["TV"] <= 0, rises
    # Its score by hand: 105 extra bad answers (0.005 x 1,000 x the squared weights, 21) over their
    # binomial spread, widened by half for the peers' own noise (1,000 answers against 2,000).
    expected_z = 105 / (21 * 1000 * 1.5 * 0.10 * 0.90) ** 0.5
    assert abs(last.filter(pl.col("segment") == "Broadband")["ramp_z"][0] - expected_z) < 0.01
