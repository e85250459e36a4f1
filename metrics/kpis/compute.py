"""The one compute function: KPI values with intervals, targets and status, from SQL generated from the catalog.

Grain of the result: one row per metric, period and segment. Ratios are counted at that
grain (sum of numerator over sum of denominator), never averaged from finer periods.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta

import duckdb
import numpy as np
import polars as pl
from scipy import stats

from metrics.kpis.catalog import GRAINS, SOURCES, Metric, catalog, dimension_expression, metric
from metrics.kpis.settings import Conventions, Settings, load_settings
from metrics.kpis.trends import Decomposition, Forecast, change_p_values, decompose, forecast

Z95 = 1.959963984540054
RESULT_SCHEMA = {
    "period_start": pl.Date,
    "period_end": pl.Date,
    "grain": pl.String,
    "dimension": pl.String,
    "segment": pl.String,
    "metric": pl.String,
    "value": pl.Float64,
    "numerator": pl.Float64,
    "denominator": pl.Float64,
    "ci_low": pl.Float64,
    "ci_high": pl.Float64,
    "n": pl.Int64,
    "target": pl.Float64,
    "target_bound": pl.String,
    "status": pl.String,
    "complete": pl.Boolean,
}
ALL_SEGMENTS = "all"
# The dimensions the daily KPI cube keeps a row per segment for (see metrics/kpis/cube.py).
CUBE_DIMENSIONS = ("channel", "category", "team", "agent", "product", "region", "customer_tier")
CUBE_KINDS = ("proportion", "ratio", "count", "nps", "mean")
# A pseudo-grain: the whole of the query's date range as one period (for tables by segment).
RANGE = "range"
STATUSES = {
    "met": "target met",
    "not_credibly_missed": "below target, but within the uncertainty",
    "missed": "target credibly missed",
    "small_sample": "too few observations to judge",
    "no_target": "no target set",
    "no_data": "no data",
}


@dataclass(frozen=True)
class Query:
    """What to compute: metrics at a grain, optionally by one dimension, within dates and segment filters."""

    metrics: tuple[str, ...]
    grain: str = "week"
    dimension: str | None = None
    date_from: date | None = None
    date_to: date | None = None
    filters: tuple[tuple[str, tuple[str, ...]], ...] = ()


def _literal(value: str) -> str:
    return "'" + str(value).replace("'", "''") + "'"


def _placeholders(conventions: Conventions, settings: Settings) -> dict[str, str]:
    if conventions.hours == "business":
        first_response = "business_minutes(created_at, first_response_at)"
        resolution = "business_minutes(created_at, resolved_at)"
    else:
        first_response = "((epoch(first_response_at) - epoch(created_at)) / 60.0)"
        resolution = "((epoch(resolved_at) - epoch(created_at)) / 60.0)"
    if conventions.fcr == "one_reply":
        fcr = "CASE WHEN resolved_at IS NULL OR agent_replies IS NULL THEN NULL ELSE agent_replies <= 1 END"
    else:
        fcr = (
            "CASE WHEN resolved_at IS NULL OR customer_id IS NULL THEN NULL ELSE "
            "coalesce(lead(created_at) OVER (PARTITION BY customer_id ORDER BY created_at) "
            f"> created_at + INTERVAL ({int(conventions.fcr_repeat_days)}) DAY, true) END"
        )
    return {
        "as_of": f"TIMESTAMPTZ {_literal(settings.as_of.isoformat())}",
        "earliest": f"TIMESTAMPTZ {_literal(settings.earliest.isoformat())}",  # older rows are placeholders
        "first_response_minutes": first_response,
        "resolution_minutes": resolution,
        "first_response_sla_minutes": f"{float(conventions.first_response_sla_minutes)}",
        "complaint_sla_hours": f"{float(conventions.complaint_sla_hours)}",
        "fcr_expression": fcr,
        "communication_pattern": _literal(
            "|".join(re.escape(word.lower()) for word in conventions.communication_keywords) or "$^"
        ),
        "complaint_rate_denominator": {
            "tickets": "count(*)",
            "customers": "count(DISTINCT customer_id)",
            "orders": "sum(units)",
        }[conventions.complaint_rate_denominator],
        "complaint_denominator_source": (
            "SELECT created_at, channel, NULL::VARCHAR AS category, team, NULL::VARCHAR AS agent, product, region, "
            "NULL::VARCHAR AS customer_tier, NULL::VARCHAR AS customer_id, attributes, orders AS units "
            "FROM order_counts"
            if conventions.complaint_rate_denominator == "orders"
            else "SELECT *, 1 AS units FROM tickets"
        ),
    }


def _fill(text: str, values: dict[str, str]) -> str:
    for key, value in values.items():
        text = text.replace("{" + key + "}", value)
    return text


def _business_macro(conventions: Conventions) -> str:
    open_text, close_text = conventions.business_hours.split("-")
    minutes = [int(t.split(":")[0]) * 60 + int(t.split(":")[1]) for t in (open_text, close_text)]
    zone = _literal(conventions.business_time_zone)
    days = ", ".join(str(int(d)) for d in conventions.business_days) or "0"
    holidays = ", ".join(f"DATE {_literal(h)}" for h in conventions.holidays) or "DATE '1900-01-01'"
    return f"""CREATE OR REPLACE TEMP MACRO business_minutes(a, b) AS (
        SELECT coalesce(sum(greatest(0,
            epoch(least(timezone({zone}, b), d + INTERVAL {minutes[1]} MINUTE))
            - epoch(greatest(timezone({zone}, a), d + INTERVAL {minutes[0]} MINUTE)))), 0) / 60.0
        FROM (SELECT unnest(generate_series(date_trunc('day', timezone({zone}, a)),
                                            date_trunc('day', timezone({zone}, b)), INTERVAL 1 DAY)) AS d)
        WHERE isodow(d) IN ({days}) AND d::DATE NOT IN ({holidays}))"""


class _Compiler:
    """Generates one SQL statement per metric from its catalog entry."""

    def __init__(self, query: Query, settings: Settings):
        self.query = query
        self.settings = settings
        self.values = _placeholders(settings.conventions, settings)
        self.zone = _literal(settings.conventions.report_time_zone)
        self.segment = dimension_expression(query.dimension) if query.dimension else _literal(ALL_SEGMENTS)
        self.filters = [(dimension_expression(d), values) for d, values in query.filters]

    def source(self, name: str) -> str:
        return "(" + _fill(SOURCES[name], self.values) + ")"

    def period(self, time_column: str) -> str:
        if self.query.grain == RANGE:
            return f"DATE {_literal((self.query.date_from or date(1970, 1, 1)).isoformat())}"
        return f"date_trunc('{self.query.grain}', {time_column} AT TIME ZONE {self.zone})::DATE"

    def conditions(self, time_column: str, where: str | None) -> str:
        parts = [f"{time_column} >= {self.values['earliest']}"]
        if where:
            parts.append(f"({_fill(where, self.values)})")
        local_day = f"({time_column} AT TIME ZONE {self.zone})::DATE"
        # Each local-day bound comes with a looser bound on the column itself, which DuckDB can check
        # against each row group's min and max and so skip the rows outside the dates unread.
        if self.query.date_from:
            start = _literal(self.query.date_from.isoformat())
            parts.append(f"{time_column} >= TIMESTAMPTZ {start} - INTERVAL 1 DAY AND {local_day} >= DATE {start}")
        if self.query.date_to:
            end = _literal((self.query.date_to + timedelta(days=1)).isoformat())
            parts.append(
                f"{time_column} < TIMESTAMPTZ {end} + INTERVAL 1 DAY AND "
                f"{local_day} <= DATE {_literal(self.query.date_to.isoformat())}"
            )
        for expression, values in self.filters:
            parts.append(f"{expression} IN ({', '.join(_literal(v) for v in values)})")
        return " AND ".join(parts)

    def grouped(self, m: Metric, select: str, source: str, time_column: str, where: str | None) -> str:
        return f"""SELECT {self.period(time_column)} AS period_start,
                          coalesce(CAST({self.segment} AS VARCHAR), '(none)') AS segment, {select}
                   FROM {self.source(source)} src
                   WHERE {self.conditions(time_column, where)}
                   GROUP BY ALL"""

    def cube_grouped(self, m: Metric, select: str, source: str, time_column: str, where: str | None) -> str:
        """Like ``grouped``, once for the whole organisation and once per segment of every dimension, in one scan."""
        segments, dimension, segment, sets = _grouping_sets()
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
            numerator = _fill(f["numerator"], self.values)
            select = f"count(*) FILTER (WHERE {numerator})::DOUBLE AS numerator, count(*)::DOUBLE AS denominator"
            return group(m, select, f["source"], f["time"], f.get("where"))
        if m.kind == "count":
            return group(m, "count(*)::DOUBLE AS value", f["source"], f["time"], f.get("where"))
        if m.kind == "mean":
            value = _fill(f["value"], self.values)
            if cube:
                select = f"sum({value}) AS value_sum, sum(({value}) ^ 2) AS value_sum_squares, count({value}) AS n"
                return group(m, select, f["source"], f["time"], f.get("where"))
            select = f"avg({value}) AS value, stddev_samp({value}) AS sd, count({value}) AS n"
            return self.grouped(m, select, f["source"], f["time"], f.get("where"))
        if m.kind == "nps":
            value = _fill(f["value"], self.values)
            select = (
                f"count(*) FILTER (WHERE {value} >= 9)::DOUBLE AS promoters, "
                f"count(*) FILTER (WHERE {value} <= 6)::DOUBLE AS detractors, count(*) AS n"
            )
            return group(m, select, f["source"], f["time"], f.get("where"))
        if m.kind == "quantile":
            duration = _fill(f["duration"], self.values)
            q = float(f["quantile"])
            spread = f"{Z95} * sqrt(len(xs) * {q} * (1 - {q}))"
            inner = group(
                m, f"list_sort(list({duration})) AS xs", f["source"], f["time"], f"({f.get('where') or 'true'})"
            )
            return f"""SELECT {keys}, len(xs) AS n,
                          xs[greatest(1, ceil(len(xs) * {q}))::BIGINT] AS value,
                          xs[greatest(1, floor(len(xs) * {q} - {spread}))::BIGINT] AS ci_low,
                          xs[least(len(xs), ceil(len(xs) * {q} + {spread}) + 1)::BIGINT]
                              AS ci_high
                   FROM ({inner})"""
        if m.kind == "ratio":
            count = _fill(f.get("denominator_count", "count(*)"), self.values)
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

    def cube_sides(self, m: Metric) -> list[tuple[str, str, str, dict[str, tuple[str, str | None]]]]:
        """The metric's aggregates as (source, time column, row condition, {cube column: (call, condition)}).

        The cube builds every metric read from the same source by the same time in one scan, each
        aggregate restricted to its metric's rows (and to its own condition, if any); a ratio has a
        side for each of its two sources.
        """
        f = m.fields
        where = _fill(f.get("where") or "true", self.values)
        if m.kind == "proportion":
            aggregates = {
                "numerator": ("count(*)", _fill(f["numerator"], self.values)),
                "denominator": ("count(*)", None),
            }
        elif m.kind == "count":
            aggregates = {"value": ("count(*)", None)}
        elif m.kind == "nps":
            value = _fill(f["value"], self.values)
            aggregates = {
                "promoters": ("count(*)", f"{value} >= 9"),
                "detractors": ("count(*)", f"{value} <= 6"),
                "n": ("count(*)", None),
            }
        elif m.kind == "mean":
            value = _fill(f["value"], self.values)
            aggregates = {
                "value_sum": (f"sum({value})", None),
                "value_sum_squares": (f"sum(({value}) ^ 2)", None),
                "n": (f"count({value})", None),
            }
        elif m.kind == "ratio":
            count = _fill(f.get("denominator_count", "count(*)"), self.values)
            return [
                (f["numerator_source"], f["numerator_time"], _fill(f.get("numerator_where") or "true", self.values),
                 {"numerator": ("count(*)", None)}),
                (f["denominator_source"], f["denominator_time"],
                 _fill(f.get("denominator_where") or "true", self.values), {"denominator": (count, None)}),
            ]  # fmt: skip
        else:
            raise ValueError(f"{m.name}: a {m.kind} is not kept in the daily cube")
        return [(f["source"], f["time"], where, aggregates)]

    def cube_scan_sql(
        self, source: str, time_column: str, sides: list[tuple[str, dict[str, tuple[str, str | None]]]]
    ) -> str:
        """One scan of ``source`` by ``time_column`` for several sides: each aggregate filtered to its side's rows,
        with ``side{i}__rows`` counting them (a side has no row for a segment and day it has no rows in)."""
        segments, dimension, segment, sets = _grouping_sets()
        columns = []
        for i, (where, aggregates) in enumerate(sides):
            columns.append(f"count(*) FILTER (WHERE {where}) AS side{i}__rows")
            for name, (call, condition) in aggregates.items():
                rows = f"({where}) AND ({condition})" if condition else where
                columns.append(f"{call} FILTER (WHERE {rows}) AS side{i}__{name}")
        return f"""SELECT period_start, {dimension}, {segment}, {", ".join(columns)}
                   FROM (SELECT {self.period(time_column)} AS period_start, {segments}, src.*
                         FROM {self.source(source)} src WHERE {self.conditions(time_column, None)}) src
                   GROUP BY GROUPING SETS ({sets})"""

    def backlog_events_sql(self) -> str:
        """Tickets opened and closed per local day, overall and per segment: the cube's rows for the backlog count.

        A ticket is open at a moment when it was created before it and closed at or after it, so
        the backlog at a day's end is the running total of opened minus closed. A close stamped
        before its creation counts at the creation, which nets to never open, as the raw join has it.
        """
        closed, e = "coalesce(resolved_at, closed_at)", self.values["earliest"]
        events = f"""SELECT created_at AS event_at, 1 AS opened, 0 AS closed, * FROM tickets WHERE created_at >= {e}
                     UNION ALL
                     SELECT greatest({closed}, created_at) AS event_at, 0, 1, * FROM tickets
                     WHERE {closed} IS NOT NULL AND created_at >= {e}"""
        segments, dimension, segment, sets = _grouping_sets()
        return f"""SELECT period_start, {dimension}, {segment}, sum(opened)::BIGINT AS opened,
                          sum(closed)::BIGINT AS closed
                   FROM (SELECT {self.period("event_at")} AS period_start, {segments}, src.*
                         FROM ({events}) src) src
                   GROUP BY GROUPING SETS ({sets})"""

    def backlog_sql(self, m: Metric, cube: bool = False) -> str:
        grain = self.query.grain
        if grain == RANGE:
            raise ValueError(f"{m.name} is a level at a moment; ask for it at a calendar grain, not over a range")
        as_of, closed, e = self.values["as_of"], "coalesce(resolved_at, closed_at)", self.values["earliest"]
        date_filters = []
        if self.query.date_from:
            date_filters.append(f"period_start >= DATE {_literal(self.query.date_from.isoformat())}")
        if self.query.date_to:
            date_filters.append(f"period_start <= DATE {_literal(self.query.date_to.isoformat())}")
        segment_filters = " AND ".join(
            f"{e} IN ({', '.join(_literal(v) for v in values)})" for e, values in self.filters
        )
        aggregate = (
            "count(*)::DOUBLE AS value"
            if m.fields["aggregate"] == "count"
            else "median((epoch(p.period_end) - epoch(t.created_at)) / 60.0) AS value, count(*) AS n"
        )
        return f"""
            WITH bounds AS (
                SELECT date_trunc('{grain}', min(created_at) AT TIME ZONE {self.zone})::DATE AS first_period,
                       date_trunc('{grain}', {as_of} AT TIME ZONE {self.zone})::DATE AS last_period
                FROM tickets WHERE created_at >= {e}),
            periods AS (
                SELECT p::DATE AS period_start,
                       least(timezone({self.zone}, (p + INTERVAL 1 {grain})::TIMESTAMP), {as_of}) AS period_end
                FROM bounds, unnest(generate_series(first_period::TIMESTAMP, last_period::TIMESTAMP,
                                                    INTERVAL 1 {grain})) AS g(p)
                {"WHERE " + " AND ".join(date_filters) if date_filters else ""})
            {self._backlog_select(aggregate, cube)}
            FROM periods p JOIN tickets t
              ON t.created_at < p.period_end AND t.created_at >= {e} AND ({closed} IS NULL OR {closed} >= p.period_end)
            {"WHERE " + segment_filters if segment_filters else ""}
            {"GROUP BY GROUPING SETS (" + _grouping_sets("p.period_start")[3] + ")" if cube else "GROUP BY ALL"}"""

    def _backlog_select(self, aggregate: str, cube: bool) -> str:
        if not cube:
            return f"SELECT p.period_start, coalesce(CAST({self.segment} AS VARCHAR), '(none)') AS segment, {aggregate}"
        _, dimension, segment, _ = _grouping_sets("p.period_start")
        return f"SELECT p.period_start, {dimension}, {segment}, {aggregate}"


def _grouping_sets(period: str = "period_start", keys: str = "") -> tuple[str, str, str, str]:
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


def compute_dimensions(
    con: duckdb.DuckDBPyConnection,
    name: str,
    grain: str,
    settings: Settings,
    dimensions: tuple[str, ...],
    date_from: date | None = None,
    date_to: date | None = None,
    filters: tuple[tuple[str, tuple[str, ...]], ...] = (),
) -> pl.DataFrame:
    """One metric at ``grain`` overall and per segment of several dimensions, in one scan.

    For what the daily cube does not hold (the radar's medians, p90s and backlog ages; a
    segment's breakdown by every other dimension): one pass with GROUPING SETS instead of one
    per dimension, or weekly medians and p90s from the duration histograms. Columns as
    ``compute`` (with ``dimension``), no target or status.
    """
    m = metric(name)
    compiler = _Compiler(Query((name,), grain, None, date_from, date_to, filters), settings)
    if settings.conventions.hours == "business":
        con.execute(_business_macro(settings.conventions))
    from metrics.kpis import cube  # the cube is built from this module's SQL

    query = Query((name,), grain, None, date_from, date_to, filters)
    state = cube.cube_state(con, settings)
    cubed = tuple(d for d in dimensions if d in ("overall", *CUBE_DIMENSIONS))
    if m.kind == "quantile" and cube.answers(state, m, query):
        sql = cube.quantile_sql(m, query, settings, cubed)
    elif m.kind == "backlog" and m.fields["aggregate"] != "count" and cube.answers(state, m, query):
        sql = cube.backlog_age_sql(m, query, settings, state, cubed)
    else:
        sql = compiler.sql(m, cube=True)
    finished = _finish(m, _means_from_sums(m, con.sql(sql).pl()))
    missing = [
        pl.lit(None, dtype=RESULT_SCHEMA[c]).alias(c) for c in ("ci_low", "ci_high") if c not in finished.columns
    ]
    return (
        finished.with_columns(missing)
        .filter(pl.col("dimension").is_in(list(dimensions)))
        .with_columns(
            pl.lit(name).alias("metric"),
            (pl.col("period_start").dt.offset_by(_PERIOD_STEP[grain]) <= settings.as_of.date()).alias("complete"),
        )
    )


def _means_from_sums(m: Metric, raw: pl.DataFrame) -> pl.DataFrame:
    """A mean's value and standard deviation from the sums the cube's SQL keeps, as the raw SQL gives them."""
    if m.kind != "mean" or "value_sum" not in raw.columns:
        return raw
    n = pl.col("n").cast(pl.Float64)
    variance = (pl.col("value_sum_squares") - pl.col("value_sum") ** 2 / n) / (n - 1)
    return raw.with_columns(
        pl.when(n > 0).then(pl.col("value_sum") / n).alias("value"),
        pl.when(n > 1).then(variance.clip(lower_bound=0).sqrt()).alias("sd"),
    ).drop("value_sum", "value_sum_squares")


def metric_sql(name: str, query: Query, settings: Settings) -> str:
    """The SQL that computes one metric for a query (shown in docs and used by tests and benchmarks)."""
    return _Compiler(query, settings).sql(metric(name))


def _wilson(k: pl.Expr, n: pl.Expr, bound: str) -> pl.Expr:
    p = k / n
    z2 = Z95**2
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = Z95 * ((p * (1 - p) / n + z2 / (4 * n * n)).sqrt()) / (1 + z2 / n)
    value = centre - half if bound == "low" else centre + half
    return pl.when((n > 0) & (k <= n)).then(value.clip(0, 1))


def _finish(m: Metric, raw: pl.DataFrame) -> pl.DataFrame:
    """Values and 95% intervals from the aggregated counts of one metric."""
    if m.kind in ("proportion", "ratio"):
        multiplier = float(m.fields.get("multiplier", 1))
        k, n = pl.col("numerator"), pl.col("denominator")
        return raw.with_columns(
            pl.when(n > 0).then(k / n * multiplier).alias("value"),
            (_wilson(k, n, "low") * multiplier).alias("ci_low"),
            (_wilson(k, n, "high") * multiplier).alias("ci_high"),
            n.cast(pl.Int64).alias("n"),
        )
    if m.kind == "count":
        return raw.with_columns(pl.col("value").cast(pl.Int64).alias("n"))
    if m.kind == "mean":
        n = pl.col("n")
        t_crit = pl.Series(stats.t.ppf(0.975, np.maximum(raw["n"].to_numpy() - 1, 1)))
        half = pl.lit(t_crit) * pl.col("sd") / n.cast(pl.Float64).sqrt()
        return raw.with_columns(
            pl.when(n > 1).then(pl.col("value") - half).alias("ci_low"),
            pl.when(n > 1).then(pl.col("value") + half).alias("ci_high"),
        ).drop("sd")
    if m.kind == "nps":
        n = pl.col("n").cast(pl.Float64)
        promoters, detractors = pl.col("promoters") / n, pl.col("detractors") / n
        score = promoters - detractors
        half = Z95 * ((promoters + detractors - score**2) / n).sqrt()
        return raw.with_columns(
            score.alias("value"),
            (score - half).clip(-1, 1).alias("ci_low"),
            (score + half).clip(-1, 1).alias("ci_high"),
            pl.col("promoters").alias("numerator"),
        ).drop("promoters", "detractors")
    if m.kind == "backlog":
        return raw.with_columns(
            pl.col("n").cast(pl.Int64) if "n" in raw.columns else pl.col("value").cast(pl.Int64).alias("n")
        )
    return raw


def _status(m: Metric, frame: pl.DataFrame, settings: Settings, dimension: str | None) -> pl.DataFrame:
    targets = {}
    default = settings.target_for(m.name)
    if dimension:
        for t in settings.targets:
            if t.metric == m.name and t.dimension == dimension:
                targets[t.segment] = t
    value_by_segment = {s: t.value for s, t in targets.items()}
    bound_by_segment = {s: t.bound for s, t in targets.items()}
    frame = frame.with_columns(
        pl.col("segment")
        .replace_strict(value_by_segment, default=default.value if default else None, return_dtype=pl.Float64)
        .alias("target"),
        pl.col("segment")
        .replace_strict(bound_by_segment, default=default.bound if default else None, return_dtype=pl.String)
        .alias("target_bound"),
    )
    value, low, high, target = pl.col("value"), pl.col("ci_low"), pl.col("ci_high"), pl.col("target")
    is_min = pl.col("target_bound") == "min"
    met = pl.when(is_min).then(value >= target).otherwise(value <= target)
    credibly_missed = pl.when(is_min).then(high < target).otherwise(low > target)
    small = pl.col("n").fill_null(0) < settings.conventions.min_sample
    status = (
        pl.when(value.is_null())
        .then(pl.lit("no_data"))
        .when(target.is_null())
        .then(pl.lit("no_target"))
        .when(small & m.is_interval_metric)
        .then(pl.lit("small_sample"))
        .when(met)
        .then(pl.lit("met"))
        .when(credibly_missed.fill_null(True))
        .then(pl.lit("missed"))
        .otherwise(pl.lit("not_credibly_missed"))
    )
    return frame.with_columns(status.alias("status"))


_PERIOD_STEP = {"day": "1d", "week": "1w", "month": "1mo", "quarter": "3mo"}


def compute(
    con: duckdb.DuckDBPyConnection, query: Query, settings: Settings | None = None, use_cube: bool = True
) -> pl.DataFrame:
    """Every requested metric at the query's grain and dimension, with interval, target and status.

    Periods with no data for a metric do not appear; the caller decides whether a gap is zero
    (counts) or unknown (rates). Additive metrics are read from the daily KPI cube when it is
    current (metrics/kpis/cube.py), with the same result as from the raw tables (``use_cube=False``).
    """
    settings = settings or load_settings()
    if query.grain not in (*GRAINS, RANGE):
        raise ValueError(f"unknown grain {query.grain!r}; use one of {', '.join(GRAINS)}")
    from metrics.kpis import cube  # the cube is built from this module's SQL

    compiler = _Compiler(query, settings)
    if settings.conventions.hours == "business":
        con.execute(_business_macro(settings.conventions))
    state = cube.cube_state(con, settings) if use_cube else None
    frames = []
    for name in query.metrics:
        m = metric(name)
        sql = cube.cube_sql(m, query, settings, state) if cube.answers(state, m, query) else compiler.sql(m)
        raw = _means_from_sums(m, con.sql(sql).pl())
        finished = _finish(m, raw)
        for column, dtype in RESULT_SCHEMA.items():
            if column not in finished.columns:
                finished = finished.with_columns(pl.lit(None, dtype=dtype).alias(column))
        period_end = (
            pl.lit((query.date_to or settings.as_of.date()) + timedelta(days=1))
            if query.grain == RANGE
            else pl.col("period_start").dt.offset_by(_PERIOD_STEP[query.grain])
        )
        finished = finished.with_columns(
            pl.lit(name).alias("metric"),
            pl.lit(query.grain).alias("grain"),
            pl.lit(query.dimension or "overall").alias("dimension"),
            period_end.alias("period_end"),
        )
        finished = _status(m, finished, settings, query.dimension)
        as_of_local = settings.as_of.date()
        finished = finished.with_columns((pl.col("period_end") <= as_of_local).alias("complete"))
        frames.append(finished.select([pl.col(c).cast(t) for c, t in RESULT_SCHEMA.items()]))
    if not frames:
        return pl.DataFrame(schema=RESULT_SCHEMA)
    return pl.concat(frames).sort("metric", "segment", "period_start")


def with_changes(results: pl.DataFrame, alpha: float = 0.05) -> pl.DataFrame:
    """Add the change on the previous period of each metric and segment, and whether it is more than noise.

    Proportions use a pooled two-proportion z-test, counts a Poisson test on the two counts; medians,
    p90s, means and NPS call a change significant when the two 95% intervals do not overlap (conservative).
    """
    ordered = results.sort("metric", "segment", "period_start")
    previous = [pl.col(c).shift(1).over("metric", "segment") for c in ("value", "numerator", "denominator")]
    ordered = ordered.with_columns(
        previous[0].alias("previous_value"),
        previous[1].alias("previous_numerator"),
        previous[2].alias("previous_denominator"),
        pl.col("ci_low").shift(1).over("metric", "segment").alias("previous_ci_low"),
        pl.col("ci_high").shift(1).over("metric", "segment").alias("previous_ci_high"),
    ).with_columns((pl.col("value") - pl.col("previous_value")).alias("change"))
    kinds = {name: m.kind for name, m in catalog().items()}
    kind = pl.col("metric").replace_strict(kinds, return_dtype=pl.String)
    proportion_p = change_p_values(
        ordered["previous_denominator"].fill_null(0).to_numpy(),
        ordered["previous_numerator"].fill_null(0).to_numpy(),
        ordered["denominator"].fill_null(0).to_numpy(),
        ordered["numerator"].fill_null(0).to_numpy(),
    )
    counts_now, counts_before = ordered["value"].to_numpy(), ordered["previous_value"].fill_null(np.nan).to_numpy()
    with np.errstate(divide="ignore", invalid="ignore"):
        poisson_p = 2 * stats.norm.sf(np.abs(counts_now - counts_before) / np.sqrt(counts_now + counts_before))
    is_binomial = (
        kind.is_in(["proportion", "ratio"])
        & (pl.col("numerator") <= pl.col("denominator"))
        & (pl.col("previous_numerator") <= pl.col("previous_denominator"))
    )
    p_value = (
        pl.when(pl.col("previous_value").is_null())
        .then(None)
        .when(is_binomial)
        .then(pl.lit(proportion_p))
        .when(kind == "count")
        .then(pl.lit(poisson_p))
    )
    no_overlap = (pl.col("ci_low") > pl.col("previous_ci_high")) | (pl.col("ci_high") < pl.col("previous_ci_low"))
    return (
        ordered.with_columns(p_value.fill_nan(None).alias("change_p_value"))
        .with_columns(
            pl.when(pl.col("previous_value").is_null())
            .then(None)
            .when(pl.col("change_p_value").is_not_null())
            .then(pl.col("change_p_value") < alpha)
            .otherwise(no_overlap)
            .alias("change_significant")
        )
        .drop("previous_numerator", "previous_denominator", "previous_ci_low", "previous_ci_high")
    )


@dataclass(frozen=True)
class KpiTrend:
    """A metric's weekly series with its decomposition and forecast against the target."""

    metric: str
    series: pl.DataFrame  # period_start, value, n, ci_low, ci_high (complete weeks only)
    decomposition: Decomposition
    forecast: Forecast
    target: float | None


def weekly_trend(
    con: duckdb.DuckDBPyConnection,
    name: str,
    settings: Settings | None = None,
    filters: tuple[tuple[str, tuple[str, ...]], ...] = (),
    horizon: int = 12,
) -> KpiTrend:
    """STL components and a damped-trend forecast of one metric's complete weeks, with the target crossing."""
    settings = settings or load_settings()
    m = metric(name)
    weekly = compute(con, Query((name,), "week", filters=filters), settings)
    series = weekly.filter(pl.col("complete")).select("period_start", "value", "n", "ci_low", "ci_high")
    target = settings.target_for(name)
    direction = {"higher": "higher", "lower": "lower"}.get(m.direction, "higher")
    if target is not None:
        direction = "higher" if target.bound == "min" else "lower"
    return KpiTrend(
        metric=name,
        series=series.sort("period_start"),
        decomposition=decompose(series.select("period_start", "value", "n")),
        forecast=forecast(
            series.select("period_start", "value", "n"),
            horizon=horizon,
            target=target.value if target else None,
            direction=direction,
            value_format=m.format,
        ),
        target=target.value if target else None,
    )


# The moment each record source is dated by.
RECORD_TIME = {"tickets": "created_at", "complaints": "created_at", "surveys": "responded_at"}


def records_sql(source: str, query: Query, settings: Settings, segment: str | None = None) -> str:
    """SQL for the rows of ``source`` inside the query's dates and filters (and one segment of its dimension)."""
    if source not in RECORD_TIME:
        raise ValueError(f"no records for {source!r}; use one of {', '.join(RECORD_TIME)}")
    compiler = _Compiler(query, settings)
    where = None
    if segment is not None and query.dimension:
        where = f"coalesce(CAST({compiler.segment} AS VARCHAR), '(none)') = {_literal(segment)}"
    return f"SELECT * FROM {compiler.source(source)} src WHERE {compiler.conditions(RECORD_TIME[source], where)}"


def records(
    con: duckdb.DuckDBPyConnection,
    source: str,
    query: Query,
    settings: Settings | None = None,
    segment: str | None = None,
    limit: int = 1000,
) -> pl.DataFrame:
    """The records behind a number: rows of ``source`` inside the query's dates and filters, newest first.

    With ``segment``, only the rows in that segment of the query's dimension ("(none)" for blanks).
    """
    inner = records_sql(source, query, settings or load_settings(), segment)
    frame = con.sql(
        f"SELECT * EXCLUDE (attributes) FROM ({inner}) ORDER BY {RECORD_TIME[source]} DESC LIMIT {int(limit)}"
    ).pl()
    return frame.drop([c for c in ("row_hash", "batch_id") if c in frame.columns])


def all_metric_names() -> tuple[str, ...]:
    """Every metric of the catalog, in declaration order."""
    return tuple(catalog())
