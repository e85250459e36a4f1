"""How a KPI's numbers read to people: a value, a change between periods and a period, as text.

The one place for these rules, in the KPI layer so the pages, the view-models, the quarterly
review and the command line all write a number the same way. A metric's ``format`` in
catalog.toml (one of ``FORMATS``) picks the rule.
"""

from __future__ import annotations

from datetime import date

import polars as pl

FORMATS = ("percent", "decimal", "minutes", "count", "score")
# What a missing value, change or period reads as.
MISSING = "–"


def format_value(value: float | None, fmt: str) -> str:
    """A value as people read it: 0.912 → 91.2%, 45.0 minutes → 45 min, NPS 0.32 → +32."""
    if value is None or value != value:
        return MISSING
    if fmt == "percent":
        return f"{value * 100:.1f}%"
    if fmt == "minutes":
        # Durations are stored in minutes everywhere; long ones read better in hours or days.
        if value >= 2 * 24 * 60:
            return f"{value / 1440:,.1f} d"
        if value >= 120:
            return f"{value / 60:,.1f} h"
        return f"{value:,.0f} min" if value >= 10 else f"{value:.1f} min"
    if fmt == "count":
        return f"{value:,.0f}"
    if fmt == "score":
        return f"{value * 100:+.0f}"
    return f"{value:,.2f}"


def format_change(change: float | None, fmt: str) -> str:
    """A change on the previous period, always signed: +1.9 pts for a share, +12 for a score, +30 min."""
    if change is None:
        return MISSING
    if fmt == "percent":
        return f"{change * 100:+.1f} pts"
    if fmt == "score":
        return f"{change * 100:+.0f}"
    if fmt == "count":
        return f"{change:+,.0f}"
    if fmt == "minutes":
        return f"{change:+,.0f} min"
    return f"{change:+,.2f}"


def format_target(bound: str, value: float, fmt: str) -> str:
    """A target with its bound: ≥ 90.0% for a minimum, ≤ 5.0% for a maximum."""
    return f"{'≥' if bound == 'min' else '≤'} {format_value(value, fmt)}"


def format_interval(low: float | None, high: float | None, fmt: str) -> str:
    """An interval as low – high, or nothing when either end is unknown."""
    if low is None or high is None:
        return ""
    return f"{format_value(low, fmt)} – {format_value(high, fmt)}"


def format_period(day: date | None) -> str:
    """A period by its first day, 2026-03-02."""
    return MISSING if day is None else f"{day:%Y-%m-%d}"


def format_values(value: pl.Expr, fmt: str) -> pl.Expr:
    """``format_value`` as an expression, for whole columns of a table.

    Polars writes a rounded float its own way, so these texts may differ from ``format_value``'s
    in thousands separators and trailing zeros (45.0 min reads "45 min" in both, 5.0 min "5 min" here).
    """
    if fmt == "percent":
        text = pl.format("{}%", (value * 100).round(1))
    elif fmt == "minutes":
        text = (
            pl.when(value >= 2880)
            .then(pl.format("{} d", (value / 1440).round(1)))
            .when(value >= 120)
            .then(pl.format("{} h", (value / 60).round(1)))
            .otherwise(pl.format("{} min", value.round(0).cast(pl.Int64)))
        )
    elif fmt == "count":
        text = value.round(0).cast(pl.Int64).cast(pl.String)
    else:
        text = value.round(2).cast(pl.String)
    return pl.when(value.is_null() | value.is_nan()).then(pl.lit(MISSING)).otherwise(text)
