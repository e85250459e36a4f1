"""Weekly KPI trends: gap filling, decomposition, forecasts with target crossing, and change significance."""

from __future__ import annotations

import math
from datetime import date, timedelta

import numpy as np
import polars as pl
import pytest

from metrics.kpis.trends import (
    change_significance,
    decompose,
    fill_weekly_gaps,
    forecast,
    target_crossing,
)

FIRST_MONDAY = date(2024, 1, 1)
NUMERIC_COLUMNS = ("observed", "trend", "seasonal", "residual")


def weekly_series(values, n: int = 100, drop_weeks: tuple[int, ...] = ()) -> pl.DataFrame:
    """A weekly series starting on FIRST_MONDAY, without the weeks (0-based) in drop_weeks."""
    frame = pl.DataFrame(
        {
            "period_start": [FIRST_MONDAY + timedelta(weeks=week) for week in range(len(values))],
            "value": [None if v is None else float(v) for v in values],
            "n": [n] * len(values),
        },
        schema={"period_start": pl.Date, "value": pl.Float64, "n": pl.Int64},
    )
    return frame.with_row_index("week").filter(~pl.col("week").is_in(list(drop_weeks))).drop("week")


def assert_no_missing(frame: pl.DataFrame, columns) -> None:
    for column in columns:
        assert frame[column].null_count() == 0, column
        assert not frame[column].is_nan().any(), column


# --- fill_weekly_gaps ---------------------------------------------------------------------------------------------


def test_fill_weekly_gaps_interpolates_missing_week_and_null_value_from_unsorted_input():
    # Weeks 1, 2 and 4 are present (week 3 missing), week 1 has a null value; rows arrive out of order.
    # Values are exact binary fractions so the interpolated week can be compared exactly.
    series = pl.DataFrame(
        {
            "period_start": [date(2024, 1, 22), date(2024, 1, 1), date(2024, 1, 8)],
            "value": [0.875, None, 0.75],
            "n": [20, 0, 10],
        },
        schema={"period_start": pl.Date, "value": pl.Float64, "n": pl.Int64},
    )
    before = series.clone()

    filled = fill_weekly_gaps(series)

    assert filled.columns == ["period_start", "value", "n", "filled"]
    assert filled["period_start"].to_list() == [date(2024, 1, 1) + timedelta(weeks=w) for w in range(4)]
    assert filled["value"][2] == (0.75 + 0.875) / 2
    assert filled["value"].to_list() == [0.75, 0.75, 0.8125, 0.875]  # week 1 back-filled from week 2
    assert filled["filled"].to_list() == [True, False, True, False]
    assert filled["n"].to_list() == [0, 10, 0, 20]
    assert series.equals(before)


def test_fill_weekly_gaps_interpolates_an_interior_null_and_forward_fills_the_end():
    filled = fill_weekly_gaps(weekly_series([0.5, None, None, 0.8, None]))

    assert filled["value"].to_list() == pytest.approx([0.5, 0.6, 0.7, 0.8, 0.8])
    assert filled["filled"].to_list() == [False, True, True, False, True]
    assert filled["n"].to_list() == [100, 0, 0, 100, 0]


def test_fill_weekly_gaps_handles_empty_input_and_rejects_duplicate_or_misaligned_weeks():
    empty = fill_weekly_gaps(weekly_series([]))
    assert empty.is_empty()
    assert empty.columns == ["period_start", "value", "n", "filled"]

    duplicated = pl.concat([weekly_series([0.9, 0.8]), weekly_series([0.7])])
    with pytest.raises(ValueError, match="same period_start"):
        fill_weekly_gaps(duplicated)

    misaligned = weekly_series([0.9, 0.8]).with_columns(
        pl.when(pl.col("period_start") == FIRST_MONDAY)
        .then(pl.col("period_start") + timedelta(days=1))
        .otherwise(pl.col("period_start"))
    )
    with pytest.raises(ValueError, match="same weekday"):
        fill_weekly_gaps(misaligned)


# --- decompose ----------------------------------------------------------------------------------------------------


def test_decompose_recovers_yearly_season_and_trend_despite_a_missing_week():
    weeks = np.arange(120)
    true_season = 0.03 * np.sin(2 * np.pi * weeks / 52)
    true_slope = 0.0005
    noise = np.random.default_rng(7).normal(0, 0.002, weeks.size)
    series = weekly_series(0.80 + true_slope * weeks + true_season + noise, drop_weeks=(60,))

    result = decompose(series)

    assert result.period == 52
    assert result.method == "STL (period 52, robust)"
    assert result.frame.height == 120
    assert_no_missing(result.frame, NUMERIC_COLUMNS)
    assert result.frame["filled"].to_list() == [week == 60 for week in weeks]
    assert np.corrcoef(result.frame["seasonal"].to_numpy(), true_season)[0, 1] > 0.9
    recovered_slope = np.polyfit(weeks, result.frame["trend"].to_numpy(), 1)[0]
    assert recovered_slope == pytest.approx(true_slope, rel=0.2)


def test_decompose_uses_quarterly_period_between_27_and_103_weeks():
    weeks = np.arange(40)
    result = decompose(weekly_series(0.9 + 0.02 * np.sin(2 * np.pi * weeks / 13), drop_weeks=(20,)))

    assert result.period == 13
    assert_no_missing(result.frame, NUMERIC_COLUMNS)


def test_decompose_short_series_falls_back_to_moving_average():
    values = 0.9 + 0.01 * np.random.default_rng(3).normal(size=20)
    result = decompose(weekly_series(values, drop_weeks=(10,)))

    assert result.period is None
    assert "moving average" in result.method
    assert_no_missing(result.frame, NUMERIC_COLUMNS)
    frame = result.frame
    assert frame["seasonal"].to_list() == [0.0] * 20
    assert frame["trend"][0] == pytest.approx(frame["observed"][:3].mean())  # centred window cut at the edge
    assert (frame["residual"] - (frame["observed"] - frame["trend"])).abs().max() == pytest.approx(0)


def test_decompose_without_observed_values_returns_nulls_not_an_error():
    result = decompose(weekly_series([None, None, None]))

    assert result.period is None
    assert result.frame["trend"].null_count() == 3


# --- forecast -----------------------------------------------------------------------------------------------------


def declining_csat() -> pl.DataFrame:
    """Ten weeks of CSAT falling by 0.01 a week from 0.97 (ending near 0.88), with small noise."""
    weeks = np.arange(10)
    return weekly_series(0.97 - 0.01 * weeks + np.random.default_rng(11).normal(0, 0.001, weeks.size))


def test_forecast_finds_when_a_declining_series_crosses_the_target():
    series = declining_csat()
    last_value = series["value"][-1]
    naive_weeks = (last_value - 0.85) / 0.01  # straight-line extrapolation of the 0.01/week slope, ≈ 3

    result = forecast(series, target=0.85)

    assert result.weeks_to_target is not None
    assert 1 <= result.weeks_to_target <= 12
    assert abs(result.weeks_to_target - naive_weeks) <= 3
    assert result.crossing_message == (
        f"At this trend the target 85.0% is crossed in about {result.weeks_to_target} weeks"
    )


def test_forecast_interval_contains_point_forecast_and_widens_with_horizon():
    series = declining_csat()
    result = forecast(series, horizon=12, level=0.95)
    frame = result.frame

    assert frame.height == 12
    assert result.level == 0.95
    assert "ETS A,Ad,N" in result.method and "95% prediction interval" in result.method
    assert_no_missing(frame, ("forecast", "lower", "upper"))
    assert ((frame["lower"] <= frame["forecast"]) & (frame["forecast"] <= frame["upper"])).all()
    width = (frame["upper"] - frame["lower"]).to_numpy()
    assert np.all(np.diff(width) >= -1e-12)
    assert width[-1] > width[0]
    last_week = series["period_start"][-1]
    assert frame["period_start"].to_list() == [last_week + timedelta(weeks=h) for h in range(1, 13)]
    assert frame["period_start"].dt.weekday().to_list() == [1] * 12  # Mondays


def test_forecast_narrower_level_gives_narrower_interval():
    series = declining_csat()
    wide, narrow = forecast(series, level=0.95).frame, forecast(series, level=0.8).frame

    assert ((narrow["upper"] - narrow["lower"]) < (wide["upper"] - wide["lower"])).all()


def test_forecast_flat_series_above_target_never_crosses():
    values = 0.95 + np.random.default_rng(5).normal(0, 0.003, 30)
    result = forecast(weekly_series(values), target=0.90)

    assert result.weeks_to_target is None
    assert result.crossing_message is None


def test_forecast_series_already_below_target_says_so():
    values = 0.85 + np.random.default_rng(6).normal(0, 0.003, 20)
    result = forecast(weekly_series(values), target=0.90)

    assert result.weeks_to_target is None
    assert result.crossing_message == "Already below the target 90.0%"


def test_forecast_lower_is_better_complaint_rate_rising_towards_target():
    weeks = np.arange(12)
    rates = 0.02 + 0.002 * weeks + np.random.default_rng(8).normal(0, 0.0002, weeks.size)  # ends near 0.042
    naive_weeks = (0.05 - rates[-1]) / 0.002  # ≈ 4

    result = forecast(weekly_series(rates), target=0.05, direction="lower")

    assert result.weeks_to_target is not None
    assert abs(result.weeks_to_target - naive_weeks) <= 3
    assert "target 5.0% is crossed" in result.crossing_message

    already_above = forecast(weekly_series(rates + 0.05), target=0.05, direction="lower")
    assert already_above.weeks_to_target is None
    assert already_above.crossing_message == "Already above the target 5.0%"


def test_forecast_missing_week_does_not_produce_nan():
    values = 0.9 + np.random.default_rng(9).normal(0, 0.005, 30)
    result = forecast(weekly_series(values, drop_weeks=(15,)))

    assert result.frame.height == 12
    assert_no_missing(result.frame, ("forecast", "lower", "upper"))


def test_forecast_with_fewer_than_eight_weeks_returns_empty_frame():
    result = forecast(weekly_series([0.9, 0.91, 0.92, 0.93, 0.94, 0.95, 0.96]), target=0.9)

    assert result.frame.is_empty()
    assert result.frame.columns == ["period_start", "forecast", "lower", "upper"]
    assert result.weeks_to_target is None
    assert result.crossing_message is None
    assert "too few weeks" in result.method


def test_forecast_rejects_unknown_direction():
    with pytest.raises(ValueError, match="direction"):
        forecast(declining_csat(), target=0.9, direction="up")


def test_target_crossing_next_week_and_exactly_on_target():
    forecasts = np.array([0.89, 0.88])
    assert target_crossing(0.91, forecasts, 0.9, "higher", "percent") == (
        1,
        "At this trend the target 90.0% is crossed in about 1 week",
    )
    # Sitting exactly on the target is still the good side; only moving past it counts as crossing.
    assert target_crossing(0.9, np.array([0.9, 0.9]), 0.9, "higher", "percent") == (None, None)
    assert target_crossing(65.0, np.array([58.0]), 60.0, "lower", "minutes") == (
        None,
        "Already above the target 60 min",
    )


def test_change_significance_textbook_case():
    # 90/100 → 80/100: p1 = 0.90, p2 = 0.80, diff = -0.10.
    # Pooled p = 170/200 = 0.85; SE = sqrt(0.85 · 0.15 · (1/100 + 1/100)) = sqrt(0.00255) = 0.050498.
    # z = -0.10 / 0.050498 = -1.9803; two-sided p = 2 · (1 - Φ(1.9803)) = 2 · 0.023835 = 0.04767.
    difference, p_value = change_significance(100, 90, 100, 80)

    assert difference == pytest.approx(-0.10)
    assert p_value == pytest.approx(0.04767, abs=5e-5)
    assert change_significance(100, 80, 100, 90) == pytest.approx((0.10, p_value))


def test_change_significance_without_sample_or_variation():
    assert all(math.isnan(x) for x in change_significance(0, 0, 100, 80))
    assert all(math.isnan(x) for x in change_significance(100, 80, 0, 0))
    assert change_significance(50, 0, 40, 0) == (0.0, 1.0)
    assert change_significance(50, 50, 40, 40) == (0.0, 1.0)
    with pytest.raises(ValueError):
        change_significance(10, 11, 10, 5)
