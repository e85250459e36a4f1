"""Trends in a weekly KPI series: gap filling, seasonal decomposition, forecasts and change significance.

Every function takes a weekly series as a polars DataFrame with columns ``period_start`` (Date, the Monday of the
ISO week), ``value`` (Float64, may be null) and ``n`` (Int64, the sample size behind the value) and returns a new
frame; the input is never modified.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from datetime import timedelta

import numpy as np
import pandas as pd
import polars as pl
from scipy.stats import norm
from statsmodels.tools.sm_exceptions import ConvergenceWarning
from statsmodels.tsa.exponential_smoothing.ets import ETSModel
from statsmodels.tsa.seasonal import STL

from metrics.kpis.formats import FORMATS, format_value

WEEK = timedelta(weeks=1)
YEARLY_PERIOD = 52
QUARTERLY_PERIOD = 13
MOVING_AVERAGE_WINDOW = 5
MIN_WEEKS_FOR_FORECAST = 8
DIRECTIONS = ("higher", "lower")
VALUE_FORMATS = FORMATS

FILLED_SCHEMA = {"period_start": pl.Date, "value": pl.Float64, "n": pl.Int64, "filled": pl.Boolean}
DECOMPOSITION_SCHEMA = {
    "period_start": pl.Date,
    "observed": pl.Float64,
    "trend": pl.Float64,
    "seasonal": pl.Float64,
    "residual": pl.Float64,
    "filled": pl.Boolean,
}
FORECAST_SCHEMA = {"period_start": pl.Date, "forecast": pl.Float64, "lower": pl.Float64, "upper": pl.Float64}


def fill_weekly_gaps(series: pl.DataFrame) -> pl.DataFrame:
    """One row per week from the first to the last ``period_start``, sorted, with no missing values.

    Missing weeks and null values are linearly interpolated between their observed neighbours and carried
    forward/backward at the edges. Filled weeks get ``n`` 0 and ``filled`` True. A series without any observed
    value keeps its nulls. Raises ``ValueError`` on duplicate weeks or dates that are not whole weeks apart,
    which would otherwise be silently dropped.
    """
    missing_columns = {"period_start", "value", "n"} - set(series.columns)
    if missing_columns:
        raise ValueError(f"weekly series is missing column(s): {', '.join(sorted(missing_columns))}")
    weekly = series.select(
        pl.col("period_start").cast(pl.Date),
        pl.col("value").cast(pl.Float64),
        pl.col("n").cast(pl.Int64),
    ).sort("period_start")
    if weekly.is_empty():
        return pl.DataFrame(schema=FILLED_SCHEMA)
    if weekly["period_start"].is_duplicated().any():
        raise ValueError("weekly series has more than one row for the same period_start")
    first_week, last_week = weekly["period_start"].min(), weekly["period_start"].max()
    days_from_first = (weekly["period_start"] - first_week).dt.total_days()
    if (days_from_first % 7 != 0).any():
        raise ValueError("period_start values must all be the same weekday (the Monday of each week)")

    all_weeks = pl.DataFrame({"period_start": pl.date_range(first_week, last_week, interval="1w", eager=True)})
    return (
        all_weeks.join(weekly, on="period_start", how="left", maintain_order="left")
        .sort("period_start")
        .with_columns(filled=pl.col("value").is_null())
        .with_columns(
            pl.col("value").interpolate().forward_fill().backward_fill(),
            pl.when(pl.col("filled")).then(0).otherwise(pl.col("n").fill_null(0)).cast(pl.Int64).alias("n"),
        )
        .select(list(FILLED_SCHEMA))
    )


@dataclass(frozen=True)
class Decomposition:
    """A weekly series split into trend, seasonal and residual components."""

    frame: pl.DataFrame  # period_start, observed, trend, seasonal, residual, filled
    period: int | None  # seasonal period used, None when the series is too short for any
    method: str


def seasonal_period_for(weeks: int) -> int | None:
    """The seasonal period STL can estimate from this many weeks: yearly, quarterly or none."""
    if weeks >= 2 * YEARLY_PERIOD:
        return YEARLY_PERIOD
    if weeks >= 2 * QUARTERLY_PERIOD + 1:
        return QUARTERLY_PERIOD
    return None


def decompose(series: pl.DataFrame) -> Decomposition:
    """Split the gap-filled weekly series into trend, seasonal and residual components.

    Uses robust STL with a yearly period (52) when there are at least two full years of weeks, a quarterly
    period (13) from 27 weeks, and otherwise a centred 5-week moving-average trend with no seasonal component.
    ``observed`` is the gap-filled value; ``filled`` marks weeks that were interpolated rather than observed.
    """
    filled = fill_weekly_gaps(series)
    if filled["value"].null_count() == filled.height:
        empty_components = filled.select(
            "period_start",
            pl.col("value").alias("observed"),
            *(pl.lit(None, dtype=pl.Float64).alias(name) for name in ("trend", "seasonal", "residual")),
            "filled",
        )
        return Decomposition(empty_components, None, "no observed values to decompose")

    period = seasonal_period_for(filled.height)
    observed = filled["value"].to_numpy()
    if period is None:
        trend = filled["value"].rolling_mean(MOVING_AVERAGE_WINDOW, min_samples=1, center=True).to_numpy()
        seasonal = np.zeros_like(observed)
        method = "centred moving average (too few weeks for STL)"
    else:
        stl_fit = STL(observed, period=period, robust=True).fit()
        trend, seasonal = np.asarray(stl_fit.trend), np.asarray(stl_fit.seasonal)
        method = f"STL (period {period}, robust)"

    frame = pl.DataFrame(
        {
            "period_start": filled["period_start"],
            "observed": observed,
            "trend": trend,
            "seasonal": seasonal,
            "residual": observed - trend - seasonal,
            "filled": filled["filled"],
        },
        schema=DECOMPOSITION_SCHEMA,
    )
    return Decomposition(frame, period, method)


@dataclass(frozen=True)
class Forecast:
    """Point forecasts with a prediction interval, and when (if ever) the forecast crosses a target."""

    frame: pl.DataFrame  # period_start (future weeks), forecast, lower, upper
    level: float
    method: str
    weeks_to_target: int | None  # first future week (1-based) whose point forecast crosses the target
    crossing_message: str | None


def forecast(
    series: pl.DataFrame,
    horizon: int = 12,
    level: float = 0.95,
    target: float | None = None,
    direction: str = "higher",
    value_format: str = "percent",
) -> Forecast:
    """Forecast the next ``horizon`` weeks with a damped-trend ETS model and a prediction interval.

    The model is fitted on the gap-filled series; fewer than 8 observed weeks give an empty frame. With a
    ``target``, reports the first future week whose point forecast moves from the good side of the target to the
    bad side (``direction`` "higher": higher is better, so falling below it; "lower": rising above it), or says the
    series is already past the target.
    """
    if direction not in DIRECTIONS:
        raise ValueError(f"direction must be one of {DIRECTIONS}, not {direction!r}")
    if value_format not in VALUE_FORMATS:
        raise ValueError(f"value_format must be one of {VALUE_FORMATS}, not {value_format!r}")
    if horizon < 1:
        raise ValueError(f"horizon must be at least 1 week, not {horizon}")
    if not 0 < level < 1:
        raise ValueError(f"level must be between 0 and 1, not {level}")

    filled = fill_weekly_gaps(series)
    observed_weeks = filled.height - int(filled["filled"].sum())
    if observed_weeks < MIN_WEEKS_FOR_FORECAST:
        method = f"no forecast: too few weeks ({observed_weeks} observed, at least {MIN_WEEKS_FOR_FORECAST} needed)"
        return Forecast(pl.DataFrame(schema=FORECAST_SCHEMA), level, method, None, None)

    # statsmodels 0.15's ETS get_prediction fails on plain numpy input (it reads .index), so pass a pandas Series.
    history = pd.Series(filled["value"].to_numpy())
    # No seasonal term even with two years of weeks: 52 seasonal states estimated from two cycles overfit badly
    # and make the intervals meaningless.
    model = ETSModel(history, error="add", trend="add", damped_trend=True)
    with warnings.catch_warnings():
        # A perfectly flat series (e.g. 100% every week) never "converges"; the fit is still usable, and the
        # method string says so instead of a warning nobody sees on the dashboard.
        warnings.simplefilter("ignore", ConvergenceWarning)
        fitted = model.fit(disp=False)
    prediction = fitted.get_prediction(start=len(history), end=len(history) + horizon - 1)
    summary = prediction.summary_frame(alpha=1 - level)

    last_week = filled["period_start"][-1]
    frame = pl.DataFrame(
        {
            "period_start": pl.date_range(last_week + WEEK, last_week + horizon * WEEK, interval="1w", eager=True),
            "forecast": summary["mean"].to_numpy(),
            "lower": summary["pi_lower"].to_numpy(),
            "upper": summary["pi_upper"].to_numpy(),
        },
        schema=FORECAST_SCHEMA,
    )
    method = f"Holt's damped additive trend (ETS A,Ad,N), no seasonal term, {level * 100:g}% prediction interval"
    if not fitted.mle_retvals.get("converged", True):
        method += " (fit did not fully converge)"

    weeks_to_target, crossing_message = None, None
    if target is not None:
        weeks_to_target, crossing_message = target_crossing(
            filled["value"][-1], frame["forecast"].to_numpy(), target, direction, value_format
        )
    return Forecast(frame, level, method, weeks_to_target, crossing_message)


def target_crossing(
    last_value: float, point_forecasts: np.ndarray, target: float, direction: str, value_format: str
) -> tuple[int | None, str | None]:
    """Weeks until the point forecast first crosses to the bad side of the target, and a message saying so."""
    target_text = format_value(target, value_format)
    bad_side = "below" if direction == "higher" else "above"
    already_past = last_value < target if direction == "higher" else last_value > target
    if already_past:
        return None, f"Already {bad_side} the target {target_text}"
    crossed = point_forecasts < target if direction == "higher" else point_forecasts > target
    if not crossed.any():
        return None, None
    weeks = int(np.argmax(crossed)) + 1
    unit = "week" if weeks == 1 else "weeks"
    return weeks, f"At this trend the target {target_text} is crossed in about {weeks} {unit}"


def change_p_values(n1: np.ndarray, k1: np.ndarray, n2: np.ndarray, k2: np.ndarray) -> np.ndarray:
    """Pooled two-proportion z-test p-values, element-wise; nan where a period has no sample.

    Where every answer in both periods is the same (pooled proportion 0 or 1) the p-value is 1.
    """
    n1, k1, n2, k2 = (np.asarray(a, dtype=float) for a in (n1, k1, n2, k2))
    with np.errstate(divide="ignore", invalid="ignore"):
        pooled = (k1 + k2) / (n1 + n2)
        standard_error = np.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
        z = np.abs(k2 / n2 - k1 / n1) / standard_error
        p_values = 2 * norm.sf(z)
    p_values = np.where((pooled == 0) | (pooled == 1), 1.0, p_values)
    return np.where((n1 > 0) & (n2 > 0), p_values, np.nan)


def change_significance(n1: int, k1: int, n2: int, k2: int) -> tuple[float, float]:
    """Pooled two-proportion z-test for a change from k1/n1 (previous period) to k2/n2 (current period).

    Returns the difference p2 - p1 and the two-sided p-value; (nan, nan) when either period has no sample, and a
    p-value of 1.0 when every answer in both periods is the same (the pooled proportion is 0 or 1).
    """
    for n, k in ((n1, k1), (n2, k2)):
        if n < 0 or not 0 <= k <= max(n, 0):
            raise ValueError(f"need 0 <= k <= n, got k={k}, n={n}")
    if n1 == 0 or n2 == 0:
        return math.nan, math.nan
    return k2 / n2 - k1 / n1, float(change_p_values(n1, k1, n2, k2))
