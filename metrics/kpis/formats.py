"""How a KPI's numbers read to people: a value, a change between periods and a period, as text.

The one place for these rules, in the KPI layer so the pages, the view-models, the quarterly
review and the command line all write a number the same way. A metric's ``format`` in
catalog.toml (one of ``FORMATS``) picks the rule.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

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
    """A change on the previous period, always signed: +1.9 pts for a share, +12 for a score, +30 min, -2.5 h."""
    if change is None:
        return MISSING
    if fmt == "percent":
        return f"{change * 100:+.1f} pts"
    if fmt == "score":
        return f"{change * 100:+.0f}"
    if fmt == "count":
        return f"{change:+,.0f}"
    if fmt == "minutes":
        # In the unit its size suits, as format_value does: -751.7 d, not "-1,082,487 min".
        if abs(change) >= 2 * 24 * 60:
            return f"{change / 1440:+,.1f} d"
        if abs(change) >= 120:
            return f"{change / 60:+,.1f} h"
        return f"{change:+,.0f} min" if abs(change) >= 10 else f"{change:+.1f} min"
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


def format_moment(moment: datetime | None) -> str:
    """The moment the data describes, to the minute in UTC: 2026-11-15 23:59 UTC (naive means UTC).

    Every face says which moment "now" is with this one spelling: the sidebar, the command line
    and the quarterly review.
    """
    if moment is None:
        return MISSING
    moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    return f"{moment:%Y-%m-%d %H:%M} UTC"


def as_of_line(moment: datetime | None, lang: str = "en") -> str:
    """The line every output leads with: "Data as of 2026-11-15 23:59 UTC", or that no data is loaded yet."""
    if lang == "zh":  # the moment itself reads the same in both languages
        return "尚未导入数据" if moment is None else f"数据截至 {format_moment(moment)}"
    return "No data loaded yet" if moment is None else f"Data as of {format_moment(moment)}"


def format_values(value: pl.Expr, fmt: str) -> pl.Expr:
    """``format_value`` for a whole column of a displayed table, cell by cell.

    The one rule, not a second copy in Polars (which wrote 5.0 min as "5 min", 12,345 as "12345"
    and an NPS of 0.32 as "0.32"): tables shown are one row per segment, so this is cheap.
    """
    return value.map_elements(lambda v: format_value(v, fmt), return_dtype=pl.String, skip_nulls=False)


def format_p_value(value: float | None) -> str:
    """An (adjusted) p-value as people read it: < 0.001, 0.012, 0.35; a missing one as "–"."""
    if value is None or value != value:
        return MISSING
    if value < 0.001:
        return "< 0.001"
    return f"{value:.3f}" if value < 0.1 else f"{value:.2f}"
