"""Trends of real KPI series from the demo warehouse: no NaN, a forecast band, and a target crossing."""

from __future__ import annotations

from datetime import UTC, datetime

import duckdb
import polars as pl

from metrics.kpis.compute import weekly_trend
from metrics.kpis.settings import load_settings


def test_weekly_trend_of_csat_has_components_and_forecast(demo):
    db, _, _ = demo
    con = duckdb.connect(str(db), read_only=True)
    settings = load_settings(as_of=datetime(2026, 11, 16, tzinfo=UTC))
    trend = weekly_trend(con, "csat", settings)
    con.close()
    assert trend.series.height >= 100 and trend.series["period_start"].is_sorted()
    assert trend.decomposition.period == 52
    components = trend.decomposition.frame.select("trend", "seasonal", "residual")
    assert components.null_count().sum_horizontal().item() == 0
    assert not any(components[c].is_nan().any() for c in components.columns)
    band = trend.forecast.frame
    assert band.height == 12
    assert (band["lower"] <= band["forecast"]).all() and (band["forecast"] <= band["upper"]).all()
    assert trend.target == 0.9


def test_weekly_trend_of_one_segment(demo):
    db, _, _ = demo
    con = duckdb.connect(str(db), read_only=True)
    trend = weekly_trend(con, "complaint_rate", load_settings(), filters=(("region", ("East",)),))
    con.close()
    assert trend.decomposition.frame.filter(pl.col("trend").is_nan()).height == 0
    assert trend.forecast.method.startswith("Holt")
