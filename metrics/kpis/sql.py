"""The KPI SQL compiler: the SQL of every metric, written from its catalog entry and the conventions in force.

Grain: SQL text. ``Compiler.sql`` gives one statement per metric for a ``Query`` (one row per
period and segment), or with ``cube=True`` one per metric for the whole organisation and every
cube dimension's segments at once; the cube (metrics/kpis/cube.py) builds its days and reads its
edges with the same pieces, so cube and raw answers are the same numbers. Placeholders in the
catalog's SQL (``{as_of}``, ``{fcr_expression}``, ...) are the conventions, filled in here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta
from typing import TYPE_CHECKING

from metrics.kpis.catalog import DIMENSIONS, SOURCES, Metric, dimension_expression, export_fills, inputs
from metrics.kpis.dialect import Spelling
from metrics.kpis.intervals import order_statistic_ranks
from metrics.kpis.settings import Conventions, Settings
from pipelines.common.segments import Segments

if TYPE_CHECKING:
    import duckdb

ALL_SEGMENTS = "all"
# The dimensions the daily KPI cube keeps a row per segment for (see metrics/kpis/cube.py): all of them.
CUBE_DIMENSIONS = DIMENSIONS
# A pseudo-grain: the whole of the query's date range as one period (for tables by segment).
RANGE = "range"


@dataclass(frozen=True)
class Query:
    """What to compute: metrics at a grain, optionally by one dimension, within dates and segment filters."""

    metrics: tuple[str, ...]
    grain: str = "week"
    dimension: str | None = None
    date_from: date | None = None
    date_to: date | None = None
    filters: Segments = ()


def literal(value: str) -> str:
    return "'" + str(value).replace("'", "''") + "'"


def placeholders(conventions: Conventions, settings: Settings, spell: Spelling | None = None) -> dict[str, str]:
    """The conventions' SQL, spelled for the engine (``spell``; DuckDB by default)."""
    spell = spell or Spelling()
    if conventions.hours == "business":
        first_response = business_minutes(spell, conventions, "created_at", "first_response_at")
        resolution = business_minutes(spell, conventions, "created_at", "resolved_at")
    else:
        first_response = spell("minutes_between", "created_at", "first_response_at")
        resolution = spell("minutes_between", "created_at", "resolved_at")
    if conventions.fcr == "one_reply":
        fcr = "CASE WHEN resolved_at IS NULL OR agent_replies IS NULL THEN NULL ELSE agent_replies <= 1 END"
    else:
        fcr = (
            "CASE WHEN resolved_at IS NULL OR customer_id IS NULL THEN NULL ELSE "
            "coalesce(lead(created_at) OVER (PARTITION BY customer_id ORDER BY created_at) "
            f"> created_at + INTERVAL ({int(conventions.fcr_repeat_days)}) DAY, true) END"
        )
    return {
        "as_of": spell("utc", literal(settings.as_of.isoformat())),
        "earliest": spell("utc", literal(settings.earliest.isoformat())),  # older rows are placeholders
        "first_response_minutes": first_response,
        "resolution_minutes": resolution,
        "first_response_sla_minutes": f"{float(conventions.first_response_sla_minutes)}",
        "complaint_sla_hours": f"{float(conventions.complaint_sla_hours)}",
        "fcr_expression": fcr,
        "communication_pattern": literal(
            "|".join(re.escape(word.lower()) for word in conventions.communication_keywords) or "$^"
        ),
        "complaint_rate_denominator": {
            "tickets": "count(*)",
            "customers": "count(DISTINCT customer_id)",
            "orders": "sum(units)",
        }[conventions.complaint_rate_denominator],
        **{f"export_fills:{i.column}": export_fills(i.column) for i in inputs().values() if i.column},
        "complaint_denominator_source": (
            "SELECT created_at, channel, NULL::VARCHAR AS category, team, NULL::VARCHAR AS agent, product, region, "
            "NULL::VARCHAR AS customer_tier, NULL::VARCHAR AS customer_id, attributes, orders AS units "
            "FROM order_counts"
            if conventions.complaint_rate_denominator == "orders"
            else "SELECT *, 1 AS units FROM tickets"
        ),
    }


def fill(text: str, values: dict[str, str]) -> str:
    for key, value in values.items():
        text = text.replace("{" + key + "}", value)
    return text


def _opening_minutes(conventions: Conventions) -> list[int]:
    open_text, close_text = conventions.business_hours.split("-")
    return [int(t.split(":")[0]) * 60 + int(t.split(":")[1]) for t in (open_text, close_text)]


def business_minutes(spell: Spelling, conventions: Conventions, a: str, b: str) -> str:
    """Minutes from ``a`` to ``b`` within business hours: DuckDB's macro, or the engine's inline spelling."""
    if spell.native:
        return f"business_minutes({a}, {b})"
    opens, closes = _opening_minutes(conventions)
    days = literal(",".join(str(int(d)) for d in conventions.business_days) or "0")
    holidays = literal(",".join(conventions.holidays))
    zone = literal(conventions.business_time_zone)
    return spell("business_minutes", a, b, zone, str(opens), str(closes), days, holidays)


def _business_macro(conventions: Conventions) -> str:
    minutes = _opening_minutes(conventions)
    zone = literal(conventions.business_time_zone)
    days = ", ".join(str(int(d)) for d in conventions.business_days) or "0"
    holidays = ", ".join(f"DATE {literal(h)}" for h in conventions.holidays) or "DATE '1900-01-01'"
    # Whole microseconds summed, then one division: other engines' spellings give the same double.
    return f"""CREATE OR REPLACE TEMP MACRO business_minutes(a, b) AS (
        SELECT coalesce(sum(greatest(0,
            epoch_us(least(timezone({zone}, b), d + INTERVAL {minutes[1]} MINUTE))
            - epoch_us(greatest(timezone({zone}, a), d + INTERVAL {minutes[0]} MINUTE)))), 0) / 60e6
        FROM (SELECT unnest(generate_series(date_trunc('day', timezone({zone}, a)),
                                            date_trunc('day', timezone({zone}, b)), INTERVAL 1 DAY)) AS d)
        WHERE isodow(d) IN ({days}) AND d::DATE NOT IN ({holidays}))"""


def declare_macros(con: duckdb.DuckDBPyConnection, conventions: Conventions) -> None:
    """Declare on ``con`` the macros the conventions' placeholders call (business minutes), before their SQL runs."""
    if conventions.hours == "business":
        con.execute(_business_macro(conventions))


class Compiler:
    """Generates one SQL statement per metric from its catalog entry."""

    def __init__(self, query: Query, settings: Settings, engine: str = "duckdb"):
        self.query = query
        self.settings = settings
        # DuckDB's SQL as it always was; another engine's with markers for metrics.kpis.dialect.render.
        self.spell = Spelling(engine)
        self.values = placeholders(settings.conventions, settings, self.spell)
        self.zone = literal(settings.conventions.report_time_zone)
        self.segment = dimension_expression(query.dimension) if query.dimension else literal(ALL_SEGMENTS)
        self.filters = [(dimension_expression(d), values) for d, values in query.filters]

    def source(self, name: str) -> str:
        return "(" + fill(SOURCES[name], self.values) + ")"

    def period(self, time_column: str) -> str:
        if self.query.grain == RANGE:
            return f"DATE {literal((self.query.date_from or date(1970, 1, 1)).isoformat())}"
        return self.spell("period_start", time_column, self.zone, literal(self.query.grain))

    def conditions(self, time_column: str, where: str | None) -> str:
        parts = [f"{time_column} >= {self.values['earliest']}"]
        if where:
            parts.append(f"({fill(where, self.values)})")
        local_day = self.spell("local_date", time_column, self.zone)
        # Each local-day bound comes with a looser bound on the column itself, which DuckDB can check
        # against each row group's min and max and so skip the rows outside the dates unread.
        if self.query.date_from:
            start = literal(self.query.date_from.isoformat())
            since = self.spell("utc", start)
            parts.append(f"{time_column} >= {since} - INTERVAL 1 DAY AND {local_day} >= DATE {start}")
        if self.query.date_to:
            end = literal((self.query.date_to + timedelta(days=1)).isoformat())
            parts.append(
                f"{time_column} < {self.spell('utc', end)} + INTERVAL 1 DAY AND "
                f"{local_day} <= DATE {literal(self.query.date_to.isoformat())}"
            )
        for expression, values in self.filters:
            parts.append(f"{expression} IN ({', '.join(literal(v) for v in values)})")
        return " AND ".join(parts)

    def grouped(self, m: Metric, select: str, source: str, time_column: str, where: str | None) -> str:
        return f"""SELECT {self.period(time_column)} AS period_start,
                          coalesce(CAST({self.segment} AS VARCHAR), '(none)') AS segment, {select}
                   FROM {self.source(source)} src
                   WHERE {self.conditions(time_column, where)}
                   {self.spell.group_by(2)}"""

    def cube_grouped(self, m: Metric, select: str, source: str, time_column: str, where: str | None) -> str:
        """Like ``grouped``, once for the whole organisation and once per segment of every dimension, in one scan."""
        segments, dimension, segment, sets = grouping_sets()
        return f"""SELECT period_start, {dimension}, {segment}, {select}
                   FROM (SELECT {self.period(time_column)} AS period_start, {segments}, src.*
                         FROM {self.source(source)} src WHERE {self.conditions(time_column, where)}) src
                   GROUP BY GROUPING SETS ({sets})"""

    def sql(self, m: Metric, cube: bool = False) -> str:
        """The metric's SQL; with ``cube``, for the whole organisation and every dimension's segments at once."""
        f = m.fields
        group = self.cube_grouped if cube else self.grouped
        keys = "period_start, dimension, segment" if cube else "period_start, segment"
        if m.kind == "proportion":
            numerator = fill(f["numerator"], self.values)
            select = f"count(*) FILTER (WHERE {numerator})::DOUBLE AS numerator, count(*)::DOUBLE AS denominator"
            return group(m, select, f["source"], f["time"], f.get("where"))
        if m.kind == "count":
            return group(m, "count(*)::DOUBLE AS value", f["source"], f["time"], f.get("where"))
        if m.kind == "mean":
            value = fill(f["value"], self.values)
            if cube:
                select = f"sum({value}) AS value_sum, sum(({value}) ^ 2) AS value_sum_squares, count({value}) AS n"
                return group(m, select, f["source"], f["time"], f.get("where"))
            select = f"avg({value}) AS value, stddev_samp({value}) AS sd, count({value}) AS n"
            return self.grouped(m, select, f["source"], f["time"], f.get("where"))
        if m.kind == "nps":
            value = fill(f["value"], self.values)
            select = (
                f"count(*) FILTER (WHERE {value} >= 9)::DOUBLE AS promoters, "
                f"count(*) FILTER (WHERE {value} <= 6)::DOUBLE AS detractors, count(*) AS n"
            )
            return group(m, select, f["source"], f["time"], f.get("where"))
        if m.kind == "quantile":
            duration = fill(f["duration"], self.values)
            length = self.spell("list_length", "xs")
            ranks = order_statistic_ranks(length, float(f["quantile"]))
            inner = group(
                m, f"{self.spell('sorted_list', duration)} AS xs", f["source"], f["time"],
                f"({f.get('where') or 'true'})",
            )  # fmt: skip
            values = ", ".join(f"{self.spell('list_element', 'xs', rank)} AS {name}" for name, rank in ranks.items())
            return f"SELECT {keys}, {length} AS n, {values} FROM ({inner})"
        if m.kind == "ratio":
            count = fill(f.get("denominator_count", "count(*)"), self.values)
            numerator = group(
                m, "count(*)::DOUBLE AS numerator", f["numerator_source"], f["numerator_time"],
                f.get("numerator_where"),
            )  # fmt: skip
            denominator = group(
                m, f"{count}::DOUBLE AS denominator", f["denominator_source"], f["denominator_time"],
                f.get("denominator_where"),
            )  # fmt: skip
            return f"""SELECT {keys}, coalesce(numerator, 0) AS numerator,
                              coalesce(denominator, 0) AS denominator
                       FROM ({numerator}) FULL JOIN ({denominator}) USING ({keys})"""
        if m.kind == "backlog":
            return self.backlog_sql(m, cube)
        raise ValueError(f"no SQL for kind {m.kind}")

    def backlog_sql(self, m: Metric, cube: bool = False) -> str:
        grain = self.query.grain
        if grain == RANGE:
            raise ValueError(f"{m.name} is a level at a moment; ask for it at a calendar grain, not over a range")
        as_of, closed, e = self.values["as_of"], "coalesce(resolved_at, closed_at)", self.values["earliest"]
        date_filters = []
        if self.query.date_from:
            date_filters.append(f"CAST(p AS DATE) >= DATE {literal(self.query.date_from.isoformat())}")
        if self.query.date_to:
            date_filters.append(f"CAST(p AS DATE) <= DATE {literal(self.query.date_to.isoformat())}")
        segment_filters = " AND ".join(
            f"{e} IN ({', '.join(literal(v) for v in values)})" for e, values in self.filters
        )
        age = self.spell("minutes_between", "t.created_at", "p.period_end")
        aggregate = (
            "count(*)::DOUBLE AS value"
            if m.fields["aggregate"] == "count"
            else f"{self.spell('median', age)} AS value, count(*) AS n"
        )
        unit = literal(grain)
        period = "CAST(p AS DATE)"
        end = self.spell("local_midnight", self.spell("next_period", period, unit), self.zone)
        sets = "GROUP BY GROUPING SETS (" + grouping_sets("p.period_start")[3] + ")"
        grouped = sets if cube else self.spell.group_by(2)
        return f"""
            WITH bounds AS (
                SELECT {self.spell("period_start", "min(created_at)", self.zone, unit)} AS first_period,
                       {self.spell("period_start", as_of, self.zone, unit)} AS last_period
                FROM tickets WHERE created_at >= {e}),
            series AS (SELECT {self.spell("period_series", "first_period", "last_period", unit)} AS p FROM bounds),
            periods AS (
                SELECT {period} AS period_start, least({end}, {as_of}) AS period_end
                FROM series {"WHERE " + " AND ".join(date_filters) if date_filters else ""})
            {self._backlog_select(aggregate, cube)}
            FROM periods p JOIN tickets t
              ON t.created_at < p.period_end AND t.created_at >= {e} AND ({closed} IS NULL OR {closed} >= p.period_end)
            {"WHERE " + segment_filters if segment_filters else ""}
            {grouped}"""

    def _backlog_select(self, aggregate: str, cube: bool) -> str:
        if not cube:
            return f"SELECT p.period_start, coalesce(CAST({self.segment} AS VARCHAR), '(none)') AS segment, {aggregate}"
        _, dimension, segment, _ = grouping_sets("p.period_start")
        return f"SELECT p.period_start, {dimension}, {segment}, {aggregate}"


def grouping_sets(period: str = "period_start", keys: str = "") -> tuple[str, str, str, str]:
    """SQL pieces to group once overall and once per segment of every cube dimension.

    Returns the segment columns to select, the ``dimension`` and ``segment`` expressions of the
    result, and the grouping sets (each also by the columns in ``keys``). Blank segments read
    '(none)', so a null only ever marks a dimension a set does not group by.
    """
    names = [f"__{d}" for d in CUBE_DIMENSIONS]
    expressions = [f"coalesce(CAST({dimension_expression(d)} AS VARCHAR), '(none)')" for d in CUBE_DIMENSIONS]
    segments = ", ".join(f"{e} AS {n}" for e, n in zip(expressions, names, strict=True))
    grouped = expressions if period != "period_start" else names
    which = " ".join(f"WHEN grouping({g}) = 0 THEN '{d}'" for d, g in zip(CUBE_DIMENSIONS, grouped, strict=True))
    dimension = f"CASE {which} ELSE 'overall' END AS dimension"
    segment = f"coalesce({', '.join(grouped)}, '{ALL_SEGMENTS}') AS segment"
    period = f"{period}, {keys}" if keys else period
    sets = ", ".join([f"({period})", *(f"({period}, {g})" for g in grouped)])
    return segments, dimension, segment, sets
