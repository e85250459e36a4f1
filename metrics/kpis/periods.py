"""Whether a KPI's period is whole: the data covers it from its first day, the chosen dates hold all of it,
and it ended by the data's own moment.

Grain: one period of a KPI result (``period_start`` to ``period_end``, the end exclusive). A period
cut short by any of the three holds a partial count or a share of a few days: it is shown, marked
incomplete, never compared with its neighbour and never judged by the radar.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from zoneinfo import ZoneInfo

import duckdb
import polars as pl

from metrics.kpis.settings import Settings
from metrics.kpis.sql import RANGE

# How far each calendar grain reaches from its first day (Polars durations).
PERIOD_STEP = {"day": "1d", "week": "1w", "month": "1mo", "quarter": "3mo"}
# The moment each table's records are dated by; the earliest of them is where the data begins.
DATED_BY = {"tickets": "created_at", "complaints": "created_at", "survey_responses": "responded_at"}


@dataclass(frozen=True)
class Coverage:
    """The days a period must lie within to be whole; a bound that is None limits nothing."""

    first_day: date | None  # the first day the data covers, in the report's time zone
    date_from: date | None  # the chosen dates, both inclusive
    date_to: date | None
    as_of_day: date  # a period ending by the start of this day has ended (the data's moment, report zone)

    def complete(self, grain: str) -> pl.Expr:
        """True where the row's period (``period_start``, ``period_end``) is whole at ``grain``."""
        # A range's period_start is a placeholder when no start date was chosen: it starts with the data.
        starts = pl.col("period_start") if grain != RANGE else pl.lit(self.date_from or self.first_day, pl.Date)
        whole = pl.col("period_end") <= pl.lit(self.as_of_day, pl.Date)
        for first in (self.first_day, self.date_from):
            if first is not None:
                whole = whole & (starts >= pl.lit(first, pl.Date))
        if self.date_to is not None:
            whole = whole & (pl.col("period_end") <= pl.lit(self.date_to + timedelta(days=1), pl.Date))
        return whole

    def latest_complete(self, grain: str) -> date | None:
        """The first day of the latest whole period at a calendar ``grain``; None when there is none."""
        end = self.as_of_day if self.date_to is None else min(self.as_of_day, self.date_to + timedelta(days=1))
        step = PERIOD_STEP[grain]
        # The period before the one holding ``end`` is the last that ends by it.
        candidate = pl.DataFrame({"end": [end]}).select(
            pl.col("end").dt.truncate(step).dt.offset_by(f"-{step}").alias("period_start")
        )
        whole = candidate.with_columns(pl.col("period_start").dt.offset_by(step).alias("period_end")).filter(
            self.complete(grain)
        )
        return whole["period_start"][0] if whole.height else None


def coverage(
    con: duckdb.DuckDBPyConnection, settings: Settings, date_from: date | None = None, date_to: date | None = None
) -> Coverage:
    """What the warehouse's data and the chosen dates cover, as of ``settings.as_of`` (the data's moment)."""
    zone = settings.conventions.report_time_zone
    return Coverage(first_day(con, settings), date_from, date_to, settings.as_of.astimezone(ZoneInfo(zone)).date())


def first_day(con: duckdb.DuckDBPyConnection, settings: Settings) -> date | None:
    """The day (report time zone) of the warehouse's first record: the start of its data span, None when empty.

    Read from each table's dating column alone, as every KPI call asks it: a record's other events
    (answered, resolved) come after it. Rows stamped before the earliest plausible moment are no
    data (an older warehouse may hold some).
    """
    earliest = f"TIMESTAMPTZ '{settings.earliest.isoformat()}'"
    firsts = " UNION ALL ".join(
        f"SELECT min({column}) FROM {table} WHERE {column} >= {earliest}" for table, column in DATED_BY.items()
    )
    first = con.sql(f"SELECT min(f) FROM ({firsts}) AS t(f)").fetchall()[0][0]
    return first.astimezone(ZoneInfo(settings.conventions.report_time_zone)).date() if first is not None else None
