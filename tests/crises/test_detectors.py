"""Each detector against a textbook case worked by hand, and the segment decomposition on a hand-made warehouse."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, timedelta

import numpy as np
import polars as pl
import pytest

from metrics.crises.contributors import benjamini_hochberg, contributors
from metrics.crises.detectors import (
    binomial_cusum,
    ewma,
    fill_periods,
    level_chart,
    proportion_chart,
    volume_chart,
    western_electric,
)
from metrics.kpis.settings import load_settings
from pipelines.ingest import ingest_file
from tests.conftest import write

KEYS = ["metric", "dimension", "segment"]
MONDAY = date(2026, 1, 5)


def series(bad: list[float], n: list[float] | float = 100.0) -> pl.DataFrame:
    sizes = n if isinstance(n, list) else [n] * len(bad)
    return pl.DataFrame(
        {
            "metric": "csat",
            "dimension": "overall",
            "segment": "all",
            "period_start": [MONDAY + timedelta(weeks=i) for i in range(len(bad))],
            "bad": [float(b) for b in bad],
            "n": [float(s) for s in sizes],
        }
    )


def test_p_chart_limits_and_a_point_beyond_them():
    # Twenty weeks at exactly 10 of 100, then 25 of 100: p0 = 0.1, sigma = sqrt(0.1 * 0.9 / 100) = 0.03.
    chart = proportion_chart(series([10] * 20 + [25]), KEYS, baseline=26, guard=0, min_baseline=8)
    last = chart.row(-1, named=True)
    assert last["p0"] == pytest.approx(0.1)
    assert last["ucl"] == pytest.approx(0.19) and last["lcl"] == pytest.approx(0.01)
    assert last["z"] == pytest.approx(5.0)
    assert last["chart"] == "p"  # no overdispersion in a flat baseline


def test_laney_widens_limits_when_the_series_is_overdispersed():
    # Alternating 5% and 15% of 1000: far more variation than binomial sampling allows.
    chart = proportion_chart(series([50, 150] * 10 + [200], n=1000.0), KEYS, baseline=26, guard=0, min_baseline=8)
    last = chart.row(-1, named=True)
    assert last["chart"] == "Laney p'"
    assert last["sigma_z"] > 5
    assert last["z_adj"] == pytest.approx(last["z_tail"] / last["sigma_z"])
    assert last["ucl"] - last["p0"] == pytest.approx(3 * math.sqrt(0.1 * 0.9 / 1000) * last["sigma_z"])


def test_rare_events_are_scored_by_their_exact_tail_not_the_normal_curve():
    # p0 = 0.003 and 3 events among 44: 0.13 expected. The textbook score is (3/44 - 0.003) /
    # sqrt(0.003 * 0.997 / 44) = 7.91, but P(X >= 3) = 1 - P(0) - P(1) - P(2) = 3.3e-4, a score of 3.41.
    chart = proportion_chart(series([3] * 20 + [3], n=[1000.0] * 20 + [44.0]), KEYS, guard=0)
    last = chart.row(-1, named=True)
    assert last["z"] == pytest.approx(7.91, abs=0.01)
    tail = 1 - sum(math.comb(44, k) * 0.003**k * 0.997 ** (44 - k) for k in range(3))
    assert tail == pytest.approx(3.26e-4, rel=0.01)
    assert last["z_tail"] == pytest.approx(3.41, abs=0.01)
    assert last["z_adj"] == pytest.approx(last["z_tail"])  # a flat baseline: no Laney widening
    # With many expected events the exact tail and the normal curve agree closely.
    big = proportion_chart(series([100] * 20 + [150], n=1000.0), KEYS, guard=0).row(-1, named=True)
    assert big["z_tail"] == pytest.approx(big["z"], rel=0.1)


def test_a_baseline_without_events_counts_half_an_event():
    chart = proportion_chart(series([0] * 20 + [1], n=100.0), KEYS, guard=0)
    last = chart.row(-1, named=True)
    # p0 taken as 0.5 / 2000: one event among 100 has P = 1 - (1 - 0.00025)^100 = 0.025, a score of 1.96.
    assert last["z_tail"] == pytest.approx(1.96, abs=0.01)


def rules_for(z: list[float]) -> dict:
    frame = series([0] * len(z)).with_columns(pl.Series("z_adj", z, dtype=pl.Float64))
    flags = western_electric(frame, KEYS).row(-1, named=True)
    return {rule: flags[f"rule_{rule}"] for rule in (1, 2, 3, 4)}


def test_western_electric_rules_one_by_one():
    assert rules_for([0, 0, 3.2]) == {1: True, 2: False, 3: False, 4: False}
    assert rules_for([0, 2.5, -1, 2.1]) == {1: False, 2: True, 3: False, 4: False}
    assert rules_for([1.5, 1.2, 0.2, 1.1, 1.3]) == {1: False, 2: False, 3: True, 4: False}
    assert rules_for([0.3] * 8) == {1: False, 2: False, 3: False, 4: True}
    assert rules_for([-3.5, -2.5, -2.5]) == {1: False, 2: False, 3: False, 4: False}  # only the bad side counts


def test_ewma_follows_its_recursion():
    frame = series([0, 0, 0]).with_columns(pl.Series("z_adj", [1.0, 0.0, 2.0]))
    result = ewma(frame, KEYS, weight=0.5)
    # e1 = 1; e2 = 0.5 * 0 + 0.5 * 1 = 0.5; e3 = 0.5 * 2 + 0.5 * 0.5 = 1.25
    assert result["ewma"].to_list() == [1.0, 0.5, 1.25]
    assert result["ewma_limit"][0] == pytest.approx(3 * math.sqrt(0.5 / 1.5))


def test_binomial_cusum_on_a_known_shift():
    # p0 = 0.10 against p1 = 0.15, n = 100: a period with 10 bad adds
    # 10 ln 1.5 + 90 ln(0.85/0.90) = -1.0896 (so S stays at 0); one with 15 bad adds
    # 15 ln 1.5 + 85 ln(0.85/0.90) = +1.2236, so S grows by that much each period after the shift.
    frame = series([10] * 10 + [15] * 5).with_columns(pl.lit(0.1).alias("p0"))
    result = binomial_cusum(frame, KEYS, pl.lit(0.15))
    step = 15 * math.log(1.5) + 85 * math.log(0.85 / 0.90)
    assert result["cusum"].to_list()[:10] == [0.0] * 10
    assert result["cusum"].to_list()[10:] == pytest.approx([step * k for k in range(1, 6)])


def test_cusum_resets_after_a_run_of_good_periods():
    frame = series([15, 15, 10, 10, 10, 15]).with_columns(pl.lit(0.1).alias("p0"))
    up = 15 * math.log(1.5) + 85 * math.log(0.85 / 0.90)
    down = 10 * math.log(1.5) + 90 * math.log(0.85 / 0.90)
    expected = [up, 2 * up, max(0, 2 * up + down), max(0, 2 * up + 2 * down), 0.0, up]
    assert binomial_cusum(frame, KEYS, pl.lit(0.15))["cusum"].to_list() == pytest.approx(expected)


def test_volume_against_the_same_weekday_of_previous_weeks():
    days = [date(2026, 1, 1) + timedelta(days=i) for i in range(64)]
    # Mondays (and every weekday) have their own level; the last day triples its weekday's level.
    counts = [10.0 * (1 + d.weekday()) for d in days]
    counts[-1] *= 3
    frame = pl.DataFrame(
        {"metric": "ticket_volume", "dimension": "overall", "segment": "all", "period_start": days, "count": counts}
    )
    result = volume_chart(frame, KEYS, seasonal_lag=7, baseline=8, guard=1).row(-1, named=True)
    assert result["expected"] == pytest.approx(counts[-1] / 3)
    assert result["ratio"] == pytest.approx(3.0)
    assert result["dispersion"] == 1.0


def levels(values: list[float | None], start: date = MONDAY, step: timedelta = timedelta(weeks=1)) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "metric": "first_response_median",
            "dimension": "overall",
            "segment": "all",
            "period_start": [start + step * i for i in range(len(values))],
            "value": values,
            "n": 100.0,
        }
    )


def test_level_chart_is_an_xmr_chart_of_the_log_level():
    # Twenty weeks alternating 10 and 20 minutes, then 160. On the log scale the centre is the median,
    # (ln 10 + ln 20) / 2, a level of sqrt(200) = 14.14 minutes. Every moving range is ln 2, so the
    # short-term sigma is ln 2 / 0.954 = 0.727; the interquartile range is ln 2 too, a long-term sigma
    # of ln 2 / 1.349 = 0.514, so the wider short-term one counts. z = ln(160 / 14.14) / 0.727 = 3.34.
    last = level_chart(levels([10.0, 20.0] * 10 + [160.0]), KEYS, baseline=26, guard=0).row(-1, named=True)
    assert last["expected"] == pytest.approx(math.sqrt(200))
    assert last["ratio"] == pytest.approx(160 / math.sqrt(200))
    assert last["sigma_log"] == pytest.approx(math.log(2) / 0.954)
    assert last["z"] == pytest.approx(math.log(160 / math.sqrt(200)) / (math.log(2) / 0.954))
    assert last["z"] == pytest.approx(3.34, abs=0.01)
    assert last["ucl"] == pytest.approx(math.sqrt(200) * math.exp(3 * math.log(2) / 0.954))


def test_level_chart_uses_the_long_term_spread_when_a_level_wanders():
    # A level that climbs slowly has tiny moving ranges; its interquartile range says how far it strays.
    climbing = [10.0 * 1.02**i for i in range(20)]
    last = level_chart(levels([*climbing, 20.0]), KEYS, baseline=26, guard=0).row(-1, named=True)
    logs = sorted(math.log(v) for v in climbing)
    iqr = (logs[14] + 0.25 * (logs[15] - logs[14])) - (logs[4] + 0.75 * (logs[5] - logs[4]))
    assert last["sigma_log"] == pytest.approx(iqr / 1.349)
    assert last["sigma_log"] > math.log(1.02) / 0.954


def test_level_chart_skips_periods_without_tickets_and_compares_weekdays_with_weekdays():
    days = [date(2026, 1, 5) + timedelta(days=i) for i in range(7 * 12)]
    # Sundays' backlogs are always ten times older than other days'; a day without tickets has no level.
    values = [100.0 if d.weekday() == 6 else 10.0 for d in days]
    values[-3] = None
    frame = levels(values, start=days[0], step=timedelta(days=1))
    seasonal = level_chart(frame, KEYS, baseline=26, guard=0, weekly_season=True)
    last_sunday = seasonal.row(-1, named=True)
    assert last_sunday["period_start"].weekday() == 6
    assert last_sunday["expected"] == pytest.approx(100.0) and last_sunday["ratio"] == pytest.approx(1.0)
    assert seasonal.row(-3, named=True)["z"] is None
    plain = level_chart(frame, KEYS, baseline=26, guard=0).row(-1, named=True)
    assert plain["ratio"] == pytest.approx(10.0)  # against all days, every Sunday looks like a crisis


def test_missing_periods_are_filled_with_zero_counts():
    frame = series([1, 2, 3]).filter(pl.col("bad") != 2)
    filled = fill_periods(frame, KEYS, "1w", ["bad", "n"])
    assert filled["period_start"].to_list() == [MONDAY, MONDAY + timedelta(weeks=1), MONDAY + timedelta(weeks=2)]
    assert filled["bad"].to_list() == [1.0, 0.0, 3.0]


def test_benjamini_hochberg_by_hand():
    # Sorted: 0.005*4/1 = 0.02, 0.01*4/2 = 0.02, 0.03*4/3 = 0.04, 0.04*4/4 = 0.04.
    assert benjamini_hochberg(np.array([0.01, 0.04, 0.03, 0.005])) == pytest.approx([0.02, 0.04, 0.04, 0.02])


def test_decomposition_into_rate_and_mix_effects(con, tmp_path):
    """Four baseline weeks: email 400 answers with 40 unhappy, chat 400 with 40. The crisis week:
    email 100 with 30 unhappy, chat 300 with 30. Overall the unhappy share goes 0.10 → 0.15.
    Weights 0.5/0.5 → 0.25/0.75; rates email 0.1 → 0.3, chat 0.1 → 0.1.
    email: rate effect 0.375 x 0.2 = 0.075, mix effect 0.2 x -0.25 = -0.05;
    chat: rate effect 0, mix effect 0.1 x 0.25 = 0.025. Sum 0.05 = the overall change."""
    tickets, surveys = ["ticket id,created at,channel"], ["response id,ticket id,responded at,score,scale"]
    plan = [(w, "email", 100, 10) for w in range(4)] + [(w, "chat", 100, 10) for w in range(4)]
    plan += [(4, "email", 100, 30), (4, "chat", 300, 30)]
    number = 0
    for week, channel, answers, unhappy in plan:
        day = date(2026, 1, 5) + timedelta(weeks=week)
        for i in range(answers):
            number += 1
            tickets.append(f"T{number},{day} 09:00,{channel}")
            surveys.append(f"S{number},T{number},{day} 12:00,{2 if i < unhappy else 5},1-5")
    ingest_file(con, write(tmp_path / "t.csv", "\n".join(tickets) + "\n"), "tickets", source_tz="UTC")
    ingest_file(con, write(tmp_path / "s.csv", "\n".join(surveys) + "\n"), "surveys", source_tz="UTC",
                mapping={"responded_at": "responded at"})  # fmt: skip
    settings = load_settings(as_of=datetime(2026, 3, 1, tzinfo=UTC))
    found = contributors(con, settings, "csat", "overall", "all", date(2026, 2, 2), date(2026, 2, 2), "week")
    by_channel = {c.segment: c for c in found if c.dimension == "channel"}
    assert by_channel["email"].rate_effect == pytest.approx(0.075)
    assert by_channel["email"].mix_effect == pytest.approx(-0.05)
    assert by_channel["chat"].rate_effect == pytest.approx(0.0)
    assert by_channel["chat"].mix_effect == pytest.approx(0.025)
    assert by_channel["email"].significant is True  # 30/100 against 40/400 is far beyond chance


def test_decomposition_of_a_duration_into_own_change_and_mix(con, tmp_path):
    """Four baseline weeks: email 100 tickets a week first answered in 28, 30, 32 and 30 minutes, chat
    100 a week in 2. The crisis week: email 100 in 120 minutes, chat 300 in 2. Levels weighted by
    tickets: before 0.5 x 30 + 0.5 x 2 = 16, now 0.25 x 120 + 0.75 x 2 = 31.5, a change of 15.5.
    email: own change 0.375 x 90 = 33.75, mix 75 x -0.25 = -18.75; chat: own change 0, mix 2 x 0.25 = 0.5."""
    rows = ["ticket id,created at,first response at,channel"]
    plan = [(w, "email", 100, m) for w, m in enumerate((28, 30, 32, 30))] + [(w, "chat", 100, 2) for w in range(4)]
    plan += [(4, "email", 100, 120), (4, "chat", 300, 2)]
    number = 0
    for week, channel, count, minutes in plan:
        created = datetime(2026, 1, 5, 9, tzinfo=UTC) + timedelta(weeks=week)
        for _ in range(count):
            number += 1
            rows.append(
                f"T{number},{created:%Y-%m-%d %H:%M},{created + timedelta(minutes=minutes):%Y-%m-%d %H:%M},{channel}"
            )
    ingest_file(con, write(tmp_path / "t.csv", "\n".join(rows) + "\n"), "tickets", source_tz="UTC")
    settings = load_settings(as_of=datetime(2026, 3, 1, tzinfo=UTC))
    found = contributors(
        con, settings, "first_response_median", "overall", "all", date(2026, 2, 2), date(2026, 2, 2), "week"
    )
    by_channel = {c.segment: c for c in found if c.dimension == "channel"}
    assert by_channel["email"].rate_effect == pytest.approx(33.75)
    assert by_channel["email"].mix_effect == pytest.approx(-18.75)
    assert by_channel["chat"].rate_effect == pytest.approx(0.0)
    assert by_channel["chat"].mix_effect == pytest.approx(0.5)
    assert sum(c.contribution for c in by_channel.values()) == pytest.approx(15.5)
    assert by_channel["email"].significant is True  # 120 minutes against 28-32 in every earlier week
    assert found[0].segment == "email"
