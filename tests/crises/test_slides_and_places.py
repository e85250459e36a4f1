"""Slow slides caught within weeks, calm series left alone, and each crisis placed where it concentrates.

Synthetic weekly series built with polars and a seeded generator: no warehouse, seconds to run.
"""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import polars as pl

from metrics.crises.clusters import Candidate, Episode
from metrics.crises.contributors import Contributor
from metrics.crises.detectors import peers, proportion_chart, ramp_score
from metrics.crises.flag import episodes, judge
from metrics.crises.model import DetectedCrisis
from metrics.crises.place import fold_into_events, paired_with, place_crises
from metrics.crises.rules import KEYS, STEP, rules

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


def test_a_slide_of_a_usual_product_is_warned_of_within_three_weeks_and_confirmed_later():
    """150 answers a week, as a product of the generated histories answers: over twelve histories the
    slide is an early warning (flagged, ``early``) by its fourth week in at least three in four of
    them (all twelve today; issue 20 asks it of the median), and confirmed (flagged by a
    full-confidence rule) in every one within nine weeks, always after the first warning."""
    slide_start = FIRST + timedelta(weeks=SLIDE_FROM)
    warned_in_time, confirmed_after = 0, []
    for seed in range(12):
        flagged = flagged_weeks(csat_weeks(150, slope_points=1.0, seed=seed))
        slid = flagged.filter((pl.col("segment") == "Broadband") & (pl.col("period_start") >= slide_start))
        first = slid["period_start"].min()
        confirmed = slid.filter(~pl.col("early"))["period_start"].min()
        warned_in_time += first is not None and first <= slide_start + timedelta(weeks=3)
        assert confirmed is not None, seed
        assert first <= confirmed <= slide_start + timedelta(weeks=8), (seed, first, confirmed)
        confirmed_after.append((confirmed - slide_start).days)
    assert warned_in_time >= 9, warned_in_time
    assert sorted(confirmed_after)[5] >= 28, confirmed_after  # a crisis later than the warning, as the README says


def test_a_calm_series_of_the_same_size_raises_nothing_and_a_season_is_no_slide():
    """No slide: no crisis, only an early warning now and then. A three-point dip hitting every
    product alike for six weeks is no slide in any of them (each is judged against its peers),
    whatever the step detectors say of it."""
    assert flagged_weeks(csat_weeks(1500, slope_points=0.0, seed=2)).filter(~pl.col("early")).is_empty()
    dip = flagged_weeks(csat_weeks(1500, slope_points=0.0, common_dip=3.0, seed=2))
    assert dip.filter(pl.col("slide") & ~pl.col("early")).is_empty()
    # At a usual product's size pure chance raises early warnings, and nothing more: runs of warned
    # weeks, fewer than the goal's one per segment and quarter (0.46-0.88 on these series of pure
    # binomial noise; about 0.24 on the backtest's calm histories, whose extra-binomial variation
    # widens the limits, as real answers' does).
    for seed in range(2, 5):
        charted, _, _ = judge(csat_weeks(150, slope_points=0.0, seed=seed), pl.DataFrame(), "week")
        warned = charted.filter("flagged").sort("segment", "period_start")
        assert warned["early"].all(), warned
        gap = pl.col("period_start").diff().over("segment")
        runs = warned.filter((gap != timedelta(weeks=1)).fill_null(True)).height
        segment_quarters = charted.filter(pl.col("ramp_z").is_not_null()).height / 13
        assert 0 < runs / segment_quarters < 1, (seed, runs, segment_quarters)


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


def complaint_rates(seed: int = 3) -> pl.DataFrame:
    """Weekly complaints per ticket, by channel, team and customer tier, from simulated tickets.

    Phone (a quarter of tickets) has four times its complaints for four weeks from week 60; every
    team and both tiers serve phone customers, so the event shows in all of them.
    """
    rng = np.random.default_rng(seed)
    tickets = 40_000 * 2  # about a thousand a week
    week = rng.integers(0, WEEKS, tickets)
    channel = rng.choice(["email", "phone", "chat", "web"], tickets, p=[0.35, 0.25, 0.25, 0.15])
    team = rng.choice(["Billing", "Technical", "Logistics"], tickets)
    tier = rng.choice(["standard", "key_account"], tickets, p=[0.9, 0.1])
    during = (channel == "phone") & (week >= 60) & (week < 64)
    complaint = rng.random(tickets) < np.where(during, 0.16, 0.04)
    frame = pl.DataFrame({"week": week, "channel": channel, "team": team, "customer_tier": tier, "c": complaint})
    parts = []
    for dimension in ("overall", "channel", "team", "customer_tier"):
        by = pl.lit("all") if dimension == "overall" else pl.col(dimension)
        parts.append(
            frame.group_by(by.alias("segment"), "week")
            .agg(pl.col("c").sum().cast(pl.Float64).alias("bad"), pl.len().cast(pl.Float64).alias("n"))
            .with_columns(pl.lit("complaint_rate").alias("metric"), pl.lit(dimension).alias("dimension"))
        )
    return pl.concat(parts).select(
        *KEYS, (pl.lit(FIRST) + pl.duration(weeks=pl.col("week"))).alias("period_start"), "bad", "n"
    )


def candidate_at(found: pl.DataFrame, dimension: str, segment: str) -> Candidate:
    row = found.filter((pl.col("dimension") == dimension) & (pl.col("segment") == segment)).row(0, named=True)
    episode = Episode(**row)
    return Candidate(
        cluster=[episode],
        dimension=dimension,
        segment=segment,
        start=episode.start,
        last=episode.last,
        raised=episode.raised,
        type="communication_failure",
        type_reason=f"complaints in {dimension} {segment} rose 2.0x → communication failure",
        primary=episode,
    )


def test_a_one_channel_event_seen_first_in_a_tier_is_placed_in_its_channel():
    charted, counted, leveled = judge(complaint_rates(), pl.DataFrame(), "week")
    found = episodes(charted, counted, "week", leveled)
    # The standard tier holds nine tickets in ten, so it carries most of the rise too, but thinly.
    seen_in_tier = candidate_at(found, "customer_tier", "standard")
    placed = place_crises([seen_in_tier], charted, counted, STEP["week"])
    assert [(c.dimension, c.segment) for c in placed] == [("channel", "phone")]
    assert "customer_tier standard" in placed[0].also_in
    assert placed[0].type_reason.startswith("complaints in channel phone rose")
    assert placed[0].primary.segment == "phone" and placed[0].primary.peak_ratio > 2


def test_the_same_event_seen_in_a_team_and_in_its_channel_is_one_crisis_in_the_channel():
    charted, counted, leveled = judge(complaint_rates(), pl.DataFrame(), "week")
    found = episodes(charted, counted, "week", leveled)
    in_channel = candidate_at(found, "channel", "phone")
    in_team = candidate_at(found, "team", "Billing")
    placed = place_crises([in_team, in_channel], charted, counted, STEP["week"])
    assert [(c.dimension, c.segment) for c in placed] == [("channel", "phone")]
    assert "team Billing" in placed[0].also_in


def contributor(dimension: str, segment: str, share: float, weight: float, significant: bool = True) -> Contributor:
    return Contributor(
        dimension=dimension, segment=segment, contribution=share * 100, share=share, rate_effect=share * 100,
        mix_effect=0.0, weight=weight, q_value=0.001 if significant else 0.5, significant=significant,
    )  # fmt: skip


def test_an_outage_in_one_region_about_one_category_is_placed_at_the_pair():
    """Inside category delivery delay, region East holds 95% of the extra tickets with a quarter of the
    category's tickets: the pair is the place. A team holding the category's tickets and its change
    alike (the one team that handles it), or a region below the share or not significant, is none."""
    explained = [
        contributor("team", "Logistics", 0.97, 0.96),
        contributor("region", "East", 0.95, 0.25),
        contributor("channel", "web", 0.7, 0.2, significant=False),
    ]
    pair = paired_with("category", explained)
    assert pair is not None and (pair.dimension, pair.segment) == ("region", "East")
    assert paired_with("category", [contributor("region", "East", 0.5, 0.1), explained[0], explained[2]]) is None
    # The place's own dimension is never its pair.
    assert paired_with("region", explained[1:2]) is None


def detected(kind: str, dimension: str, segment: str, start: date, paired: str | None) -> DetectedCrisis:
    return DetectedCrisis(
        metric="first_response_sla", dimension=dimension, segment=segment, type=kind, type_reason="",
        severity="major", severity_reason="", grain="week", start=start, last_flagged=start + timedelta(weeks=1),
        ongoing=False, raised=start, evidence={"also_seen_in": [], "paired_with": paired},
    )  # fmt: skip


def test_a_slowdown_in_the_outage_s_region_is_the_outage_not_a_crisis_of_its_own():
    week = date(2026, 4, 6)
    outage = detected("sudden_event", "category", "delivery delay", week, "region East")
    slowdown = detected("service_quality", "channel", "web", week, "region East")
    elsewhere = detected("service_quality", "channel", "web", week, "region West")
    later = detected("service_quality", "channel", "chat", week + timedelta(weeks=6), "region East")
    kept = fold_into_events([outage, slowdown, elsewhere, later], STEP["week"])
    assert kept == [outage, elsewhere, later]
    assert outage.evidence["also_seen_in"] == ["channel web"]


def test_a_daily_scan_sees_the_slide_the_weekly_one_confirms_a_week_later_and_never_warns():
    """Slides move by the week: a daily scan judges each day by the ramp of the last complete week
    (the weekly thresholds), so it confirms the same slide the Monday after the weekly scan's week,
    raises no early warning of its own, and leaves the other products alone."""
    rng = np.random.default_rng(7)
    weekly = csat_weeks(700, slope_points=1.0, seed=3)
    days = weekly.with_columns(pl.int_ranges(0, 7).alias("day")).explode("day")
    # Each week's answers spread over its seven days (100 a day), its bad answers drawn across them.
    daily = days.with_columns(
        (pl.col("period_start") + pl.duration(days=pl.col("day"))).alias("period_start"),
        (pl.col("n") / 7).alias("n"),
        pl.Series(rng.binomial(100, days["bad"].to_numpy() / 700)).cast(pl.Float64).alias("bad"),
    ).drop("day")
    by_week = daily.group_by("metric", "dimension", "segment", pl.col("period_start").dt.truncate("1w")).agg(
        pl.col("bad").sum(), pl.col("n").sum()
    )
    week_flags = flagged_weeks(by_week).filter(pl.col("segment") == "Broadband")
    # The week the ramp itself confirms the slide (the weekly scan's CUSUM or spikes may speak sooner).
    confirmed_week = week_flags.filter(
        pl.col("slide") & (pl.col("ramp_z") >= rules()["thresholds"]["week"]["slide_z"])
    )["period_start"].min()
    assert confirmed_week is not None

    charted, _, _ = judge(daily, pl.DataFrame(), "day")
    slid = charted.filter("slide")
    assert not slid["early"].any()
    assert set(slid["segment"]) == {"Broadband"}
    assert slid["period_start"].min() == confirmed_week + STEP["week"]
