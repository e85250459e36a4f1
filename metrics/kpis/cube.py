"""The KPI cube: additive KPIs per local day and segment, durations per local week, rebuilt after each load.

Grain of ``kpi_cube``: one row per metric, day (in the report time zone), dimension (``overall``
or one of ``CUBE_DIMENSIONS``) and segment, holding the day's numerator and denominator (or
count, NPS tallies, a mean's sum and sum of squares, or the tickets opened and closed that day).
Any week, month, quarter or date range is then an exact sum of days, so a question reads
thousands of cube rows instead of millions of tickets. Built from the catalog's own SQL
(``Compiler.sql(cube=True)``, metrics/kpis/sql.py), so cube and raw answers are the same numbers.

Grain of ``kpi_histogram``: one row per duration, local week, dimension, segment and 2%-wide
bucket. Medians and p90s by week or over a date range read it (the days of a week cut by the
dates are read raw), within 2% of the exact order statistic.

The cube answers only when it was built for the conventions in force and for the data as it
is (the batches it saw); otherwise ``compute`` reads the raw tables. Segment filters, other
dimensions, daily, monthly and quarterly quantiles and backlog ages always read the raw tables.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import duckdb

from metrics.kpis.catalog import Metric, catalog
from metrics.kpis.intervals import order_statistic_ranks
from metrics.kpis.settings import Settings, load_settings
from metrics.kpis.sql import (
    CUBE_DIMENSIONS,
    RANGE,
    Compiler,
    Query,
    declare_macros,
    fill,
    grouping_sets,
    literal,
    placeholders,
)
from pipelines.warehouse.store import transaction

# The kinds that add up over days (distinct counts aside, see ``cube_metrics``).
CUBE_KINDS = ("proportion", "ratio", "count", "nps", "mean")
MEASURES = {
    "proportion": "sum(numerator) AS numerator, sum(denominator) AS denominator",
    # A ratio's two sides are rows of their own: a day may have complaints and no tickets, or the reverse.
    "ratio": "coalesce(sum(numerator), 0) AS numerator, coalesce(sum(denominator), 0) AS denominator",
    "count": "sum(value) AS value",
    "nps": "sum(promoters) AS promoters, sum(detractors) AS detractors, sum(n)::BIGINT AS n",
    "mean": "sum(value_sum) AS value_sum, sum(value_sum_squares) AS value_sum_squares, sum(n)::BIGINT AS n",
}
# Metrics counted "as of now" (an unanswered ticket becomes a breach once its SLA passes): their
# last days are read raw, since the cube counted them at the moment it was built.
RECENT_DAYS_READ_RAW = 2


@dataclass(frozen=True)
class CubeState:
    built_as_of: datetime
    metrics: frozenset[str]


def conventions_key(settings: Settings) -> str:
    # The plausible bound decides which rows count: a cube built under another (or before there was one,
    # when a placeholder date could stretch its days back to year 1) no longer answers.
    key = f"{settings.conventions!r} earliest {settings.earliest.isoformat()}"
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:16]


def data_version(con: duckdb.DuckDBPyConnection) -> str:
    """Changes with every load and undo: the cube built at another version no longer answers."""
    row = con.sql(
        "SELECT count(*), coalesce(max(batch_id), 0), count(*) FILTER (WHERE status <> 'loaded') FROM batches"
    ).fetchall()[0]
    return ":".join(str(v) for v in row)


def cube_metrics(settings: Settings) -> list[Metric]:
    """The catalog's additive metrics under these conventions, and the backlog count (from opened and closed).

    Distinct customers do not add up over days, nor do medians (see ``histogram_metrics``).
    """
    values = placeholders(settings.conventions, settings)
    return [
        m
        for m in catalog().values()
        if (m.kind in CUBE_KINDS and "DISTINCT" not in fill(m.fields.get("denominator_count", ""), values).upper())
        or (m.kind == "backlog" and m.fields["aggregate"] == "count")
    ]


# A histogram bucket spans this ratio of durations; each keeps its smallest and largest duration,
# and a quantile is read between them by rank, so it is off by at most 2% and usually far less.
BUCKET_RATIO = 1.02
HISTOGRAM_GRAINS = ("week", RANGE)


def histogram_metrics() -> list[Metric]:
    """The quantile metrics, answered from weekly duration histograms."""
    return [m for m in catalog().values() if m.kind == "quantile"]


def histogram_key(m: Metric) -> str:
    """Metrics reading the same durations of the same rows (a median and a p90) share one histogram."""
    return "|".join(str(m.fields.get(f, "")) for f in ("source", "time", "where", "duration"))


def _bucket(minutes: str) -> str:
    """Buckets ordered as durations: 2% wide above a hundredth of a minute, one minute wide below zero."""
    return f"""CASE WHEN {minutes} > 0.01 THEN ceil(ln({minutes}) / ln({BUCKET_RATIO}))::INTEGER
                    WHEN {minutes} >= 0 THEN -250 ELSE -251 - floor(-{minutes})::INTEGER END"""


def _histogram_build_sql(m: Metric, settings: Settings) -> str:
    compiler = Compiler(Query((m.name,), "week"), settings)
    f = m.fields
    duration = fill(f["duration"], compiler.values)
    segments, dimension, segment, sets = grouping_sets(keys="bucket")
    return f"""SELECT period_start AS week, {dimension}, {segment}, bucket, count(*) AS n, min(minutes) AS lo,
                      max(minutes) AS hi
               FROM (SELECT {compiler.period(f["time"])} AS period_start, {segments}, {duration} AS minutes,
                            {_bucket(duration)} AS bucket
                     FROM {compiler.source(f["source"])} src
                     WHERE {compiler.conditions(f["time"], f"({f.get('where') or 'true'}) AND {duration} IS NOT NULL")})
               GROUP BY GROUPING SETS ({sets})"""


def _insert_daily(con: duckdb.DuckDBPyConnection, compiler: Compiler, metrics: list[Metric]) -> None:
    """The daily rows of every metric: one scan per source and time column, shared by all metrics reading it."""
    scans: dict[tuple[str, str], list[tuple[str, str, dict]]] = {}
    for m in metrics:
        if m.kind == "backlog":
            con.execute(
                f"""INSERT INTO kpi_cube BY NAME
                    SELECT {literal(m.name)} AS metric, period_start AS day, * EXCLUDE (period_start)
                    FROM ({compiler.backlog_events_sql()}) ORDER BY dimension, day"""
            )
            continue
        for source, time_column, where, aggregates in compiler.cube_sides(m):
            scans.setdefault((source, time_column), []).append((m.name, where, aggregates))
    for (source, time_column), sides in scans.items():
        scan = compiler.cube_scan_sql(source, time_column, [(where, aggregates) for _, where, aggregates in sides])
        con.execute(f"CREATE OR REPLACE TEMP TABLE cube_scan AS {scan}")
        for i, (name, _, aggregates) in enumerate(sides):
            columns = ", ".join(
                f"side{i}__{column}::{'BIGINT' if column == 'n' else 'DOUBLE'} AS {column}" for column in aggregates
            )
            con.execute(
                f"""INSERT INTO kpi_cube BY NAME
                    SELECT {literal(name)} AS metric, period_start AS day, dimension, segment, {columns}
                    FROM cube_scan WHERE side{i}__rows > 0 ORDER BY dimension, day"""
            )
    con.execute("DROP TABLE IF EXISTS cube_scan")


# Below this many tickets a week's segment holds too few durations for buckets to save rows (a
# histogram would outgrow the tickets), and the raw medians answer in about 100 ms.
HISTOGRAM_MIN_TICKETS = 3_000_000


def build_cube(con: duckdb.DuckDBPyConnection, settings: Settings | None = None, histograms: bool | None = None) -> int:
    """Rebuild the cube for ``settings``' conventions in one transaction; returns its number of rows.

    The duration and backlog-age histograms are built with ``histograms``, by default from
    HISTOGRAM_MIN_TICKETS tickets on; without them those questions read the raw tables.
    """
    settings = settings or load_settings()
    if histograms is None:
        histograms = con.sql("SELECT count(*) FROM tickets").fetchall()[0][0] >= HISTOGRAM_MIN_TICKETS
    metrics = cube_metrics(settings)
    compiler = Compiler(Query(tuple(m.name for m in metrics), "day"), settings)
    declare_macros(con, settings.conventions)
    with transaction(con):
        con.execute("DELETE FROM kpi_cube")
        con.execute("DELETE FROM kpi_cube_meta")
        _insert_daily(con, compiler, metrics)
        con.execute("DELETE FROM kpi_histogram")
        con.execute("DELETE FROM kpi_backlog_ages")
        quantiles = histogram_metrics() if histograms else []
        for key, m in {histogram_key(m): m for m in quantiles}.items():
            con.execute(
                f"""INSERT INTO kpi_histogram BY NAME SELECT {literal(key)} AS key, *
                    FROM ({_histogram_build_sql(m, settings)}) ORDER BY dimension, week, segment, bucket"""
            )
        if histograms:
            con.execute(
                f"""INSERT INTO kpi_backlog_ages BY NAME
                    SELECT * FROM ({_backlog_ages_build_sql(settings)}) ORDER BY dimension, day, segment, bucket"""
            )
        names = [m.name for m in metrics] + [m.name for m in quantiles] + (["backlog_age"] if histograms else [])
        con.execute(
            "INSERT INTO kpi_cube_meta VALUES (?, ?, ?, now(), ?)",
            [conventions_key(settings), data_version(con), settings.as_of, ",".join(names)],
        )
        rows = con.sql("SELECT count(*) FROM kpi_cube").fetchall()[0][0]
    return rows


def cube_state(con: duckdb.DuckDBPyConnection, settings: Settings) -> CubeState | None:
    """The cube, when it was built for these conventions and this data; None when the raw tables must answer."""
    try:
        found = con.sql("SELECT conventions_key, data_version, built_as_of, metrics FROM kpi_cube_meta").fetchall()
    except duckdb.CatalogException:
        return None  # a warehouse from before the cube, opened read-only
    if len(found) != 1:
        return None
    key, version, built_as_of, names = found[0]
    if key != conventions_key(settings) or version != data_version(con):
        return None
    return CubeState(built_as_of.astimezone(UTC), frozenset(names.split(",")))


def answers(state: CubeState | None, m: Metric, query: Query) -> bool:
    """Whether the cube can answer this metric for this query."""
    return (
        state is not None
        and m.name in state.metrics
        and not query.filters
        and (query.dimension is None or query.dimension in CUBE_DIMENSIONS)
        and not (m.kind == "backlog" and query.grain == RANGE)  # a level at a moment: the raw SQL says so
        and (m.kind != "quantile" or _histograms_answer(query))
        and (m.kind != "backlog" or m.fields["aggregate"] == "count" or query.grain in BACKLOG_AGE_GRAINS)
    )


COLUMNS = {
    "proportion": ("numerator", "denominator"),
    "ratio": ("numerator", "denominator"),
    "count": ("value",),
    "nps": ("promoters", "detractors", "n"),
    "mean": ("value_sum", "value_sum_squares", "n"),
}


def cube_sql(m: Metric, query: Query, settings: Settings, state: CubeState) -> str:
    """SQL over the cube with the same columns as the metric's raw SQL for ``query``.

    A metric counted as of now has its last days read raw and added to the cube's days.
    """
    if m.kind == "backlog" and m.fields["aggregate"] != "count":
        return backlog_age_sql(m, query, settings, state)
    if m.kind == "backlog":
        return _backlog_sql(m, query, settings)
    if m.kind == "quantile":
        return quantile_sql(m, query, settings)
    if query.grain == RANGE:
        period = f"DATE {literal((query.date_from or date(1970, 1, 1)).isoformat())}"
    else:
        period = "day" if query.grain == "day" else f"date_trunc('{query.grain}', day)::DATE"
    conditions = [f"metric = {literal(m.name)}", f"dimension = {literal(query.dimension or 'overall')}"]
    if query.date_from:
        conditions.append(f"day >= DATE {literal(query.date_from.isoformat())}")
    if query.date_to:
        conditions.append(f"day <= DATE {literal(query.date_to.isoformat())}")
    cutoff = None
    if "{as_of}" in str(m.fields):
        zone = ZoneInfo(settings.conventions.report_time_zone)
        earliest = min(state.built_as_of, settings.as_of)
        cutoff = earliest.astimezone(zone).date() - timedelta(days=RECENT_DAYS_READ_RAW)
        if query.date_to and query.date_to < cutoff:
            cutoff = None
    if cutoff is None:
        return f"""SELECT {period} AS period_start, segment, {MEASURES[m.kind]}
                   FROM kpi_cube WHERE {" AND ".join(conditions)} GROUP BY ALL"""
    conditions.append(f"day < DATE {literal(cutoff.isoformat())}")
    recent = replace(query, date_from=max(query.date_from or cutoff, cutoff))
    raw = Compiler(recent, settings).sql(m)
    columns = ", ".join(COLUMNS[m.kind])
    recent_period = period if query.grain == RANGE else "period_start"
    return f"""SELECT period_start, segment, {MEASURES[m.kind]}
               FROM (SELECT {period} AS period_start, segment, {columns}
                     FROM kpi_cube WHERE {" AND ".join(conditions)}
                     UNION ALL
                     SELECT {recent_period} AS period_start, segment, {columns} FROM ({raw}))
               GROUP BY ALL"""


def _week_start(day: date) -> date:
    return day - timedelta(days=day.weekday())


def _period_start(day: date, grain: str) -> date:
    if grain == "month":
        return day.replace(day=1)
    return day.replace(month=(day.month - 1) // 3 * 3 + 1, day=1)


def _period_start_of(day: date, grain: str) -> date:
    if grain == "day":
        return day
    return _week_start(day) if grain == "week" else _period_start(day, grain)


def _histograms_answer(query: Query) -> bool:
    """Weeks and ranges always; months and quarters when the dates bound them (each boundary is read raw)."""
    return query.grain in HISTOGRAM_GRAINS or (
        query.grain in ("month", "quarter") and query.date_from is not None and query.date_to is not None
    )


def _pieces(query: Query) -> list[tuple[str, str, date | None, date | None]]:
    """Each period's start (as histogram rows and as raw edge rows name it) with the dates it covers."""
    if query.grain == "week":
        return [("week", "period_start", query.date_from, query.date_to)]
    if query.grain == RANGE:
        period = f"DATE {literal((query.date_from or date(1970, 1, 1)).isoformat())}"
        return [(period, period, query.date_from, query.date_to)]
    pieces, start = [], _period_start(query.date_from, query.grain)
    step = 1 if query.grain == "month" else 3
    while start <= query.date_to:
        following = date(start.year + (start.month - 1 + step) // 12, (start.month - 1 + step) % 12 + 1, 1)
        period = f"DATE {literal(start.isoformat())}"
        pieces.append((period, period, max(start, query.date_from), min(following - timedelta(days=1), query.date_to)))
        start = following
    return pieces


def quantile_sql(m: Metric, query: Query, settings: Settings, dimensions: tuple[str, ...] | None = None) -> str:
    """A median or p90 with its interval, per week (or over the whole range) and segment, from the histograms.

    Whole weeks come from the histograms; the days of a week cut by the query's dates are read raw
    and bucketed alike. Ranks are those of the raw SQL: the value at ceil(n q), the interval
    between the order statistics n q -/+ 1.96 sqrt(n q (1 - q)). With ``dimensions``, every one of
    them at once (a ``dimension`` column before ``segment``).
    """
    if not _histograms_answer(query):
        raise ValueError(f"the histograms hold whole weeks: they answer weeks and bounded ranges, not {query.grain}s")
    f = m.fields
    wanted = [query.dimension or "overall"] if dimensions is None else list(dimensions)
    keep_dimension = "dimension, " if dimensions is not None else ""
    parts = []
    for histogram_period, edge_period, first, last in _pieces(query):
        conditions = [f"key = {literal(histogram_key(m))}", f"dimension IN ({', '.join(map(literal, wanted))})"]
        edges = []
        if first:
            first_whole = _week_start(first + timedelta(days=6))
            conditions.append(f"week >= DATE {literal(first_whole.isoformat())}")
            if first_whole > first:
                edges.append((first, min(first_whole - timedelta(days=1), last or date.max)))
        if last:
            last_whole = _week_start(last + timedelta(days=1)) - timedelta(days=7)
            conditions.append(f"week <= DATE {literal(last_whole.isoformat())}")
            cut = last_whole + timedelta(days=7)
            if cut <= last and not (edges and edges[0][1] >= cut):
                edges.append((max(cut, first or cut), last))
        parts.append(
            f"""SELECT {histogram_period} AS period_start, {keep_dimension}segment, bucket, n, lo, hi
                FROM kpi_histogram WHERE {" AND ".join(conditions)}"""
        )
        for edge_from, edge_to in edges:
            compiler = Compiler(replace(query, metrics=(m.name,), date_from=edge_from, date_to=edge_to), settings)
            duration = fill(f["duration"], compiler.values)
            where = f"({f.get('where') or 'true'}) AND {duration} IS NOT NULL"
            select = f"{_bucket(duration)} AS bucket, count(*) AS n, min({duration}) AS lo, max({duration}) AS hi"
            if dimensions is None:
                edge = compiler.grouped(m, select, f["source"], f["time"], where)
            else:
                edge = f"""SELECT * FROM ({compiler.cube_grouped(m, select, f["source"], f["time"], where)})
                           WHERE dimension IN ({", ".join(map(literal, wanted))})"""
            parts.append(
                f"SELECT {edge_period} AS period_start, {keep_dimension}segment, bucket, n, lo, hi FROM ({edge})"
            )
    ranks = order_statistic_ranks("total", float(f["quantile"]))
    return _read_ranks(parts, f"period_start, {keep_dimension}segment", ranks)


def _read_ranks(parts: list[str], keys: str, ranks: dict[str, str]) -> str:
    """The values at the given ranks (expressions of ``total``) of histograms merged from ``parts``.

    Within a bucket the value is read between its smallest and largest duration by rank, so a
    bucket holding one distinct value gives it exactly.
    """

    def at(rank: str) -> str:
        position = f"({rank} - (cum - n) - 1) / greatest(n - 1, 1)"
        return f"arg_min(lo + (hi - lo) * {position}, bucket) FILTER (WHERE cum >= {rank})"

    rank_columns = ", ".join(f"{rank} AS __rank_{name}" for name, rank in ranks.items())
    values = ", ".join(f"{at(f'__rank_{name}')} AS {name}" for name in ranks)
    return f"""
        WITH merged AS (
            SELECT {keys}, bucket, sum(n) AS n, min(lo) AS lo, max(hi) AS hi
            FROM ({" UNION ALL ".join(parts)}) GROUP BY ALL),
        ranked AS (
            SELECT *, sum(n) OVER (PARTITION BY {keys} ORDER BY bucket) AS cum,
                   sum(n) OVER (PARTITION BY {keys}) AS total
            FROM merged)
        SELECT {keys}, any_value(total)::BIGINT AS n, {values}
        FROM (SELECT *, {rank_columns} FROM ranked) GROUP BY ALL"""


# Weeks end on Sundays, months and quarters on their last days: the days whose ends the backlog
# ages are kept for (daily backlog ages are read raw).
BACKLOG_AGE_GRAINS = ("week", "month", "quarter")


def _backlog_ages_build_sql(settings: Settings) -> str:
    """Ages of the tickets open at the end of each week, month and quarter, bucketed, overall and per segment.

    A ticket is open at the end of day D when it was created before and closed at or after that
    moment; the days run to the last one ended when the cube is built.
    """
    zone = literal(settings.conventions.report_time_zone)
    built = f"({placeholders(settings.conventions, settings)['as_of']} AT TIME ZONE {zone})::DATE"
    closed = "coalesce(resolved_at, closed_at)"
    age = "((epoch(timezone(" + zone + ", (day + 1)::TIMESTAMP)) - epoch(created_at)) / 60.0)"
    segments, dimension, segment, sets = grouping_sets(keys="bucket")
    return f"""
        WITH spanning AS (
            SELECT *, (created_at AT TIME ZONE {zone})::DATE AS first_day,
                   least(coalesce(({closed} AT TIME ZONE {zone})::DATE, {built}), {built}) - 1 AS last_day
            FROM tickets
            WHERE created_at >= {placeholders(settings.conventions, settings)["earliest"]}),
        open_at_day_end AS (
            SELECT * EXCLUDE (first_sunday),
                   unnest(generate_series(first_sunday, last_day, INTERVAL 7 DAY))::DATE AS day
            FROM (SELECT *, first_day + ((7 - isodow(first_day)) % 7)::INTEGER AS first_sunday FROM spanning)
            WHERE last_day >= first_sunday
            UNION ALL
            SELECT * EXCLUDE (month), last_day(month) AS day
            FROM (SELECT *, unnest(generate_series(date_trunc('month', first_day), last_day, INTERVAL 1 MONTH))::DATE
                            AS month
                  FROM spanning WHERE last_day >= first_day)
            WHERE last_day(month) <= last_day AND isodow(last_day(month)) <> 7)
        SELECT day, {dimension}, {segment}, bucket, count(*) AS n, min(age) AS lo, max(age) AS hi
        FROM (SELECT day, {segments}, {age} AS age, {_bucket(age)} AS bucket FROM open_at_day_end src)
        GROUP BY GROUPING SETS ({sets.replace("period_start", "day")})"""


def backlog_age_sql(
    m: Metric, query: Query, settings: Settings, state: CubeState, dimensions: tuple[str, ...] | None = None
) -> str:
    """The median age of the tickets open at each period's end, from the end-of-day histograms.

    Periods that ended by the as-of time and by the cube's build are read at their last day's end;
    the one in progress (which ends at the as-of moment) is read raw. The median of an even count is
    the mean of the two middle ages, as DuckDB's ``median`` gives it.
    """
    grain, zone = query.grain, ZoneInfo(settings.conventions.report_time_zone)
    known = min(state.built_as_of, settings.as_of).astimezone(zone).date()
    wanted = [query.dimension or "overall"] if dimensions is None else list(dimensions)
    keep_dimension = "dimension, " if dimensions is not None else ""
    conditions = [
        f"dimension IN ({', '.join(map(literal, wanted))})",
        f"day = (date_trunc('{grain}', day) + INTERVAL 1 {grain})::DATE - 1",
        f"day < DATE {literal(known.isoformat())}",
    ]
    if query.date_from:
        conditions.append(f"date_trunc('{grain}', day)::DATE >= DATE {literal(query.date_from.isoformat())}")
    if query.date_to:
        conditions.append(f"date_trunc('{grain}', day)::DATE <= DATE {literal(query.date_to.isoformat())}")
    histogram = f"""SELECT date_trunc('{grain}', day)::DATE AS period_start, {keep_dimension}segment, bucket, n, lo, hi
                    FROM kpi_backlog_ages WHERE {" AND ".join(conditions)}"""
    first_raw = _period_start_of(known, grain)
    recent = Compiler(replace(query, date_from=max(query.date_from or first_raw, first_raw)), settings)
    raw = recent.sql(m) if dimensions is None else recent.sql(m, cube=True)
    middle = {
        "value_low": "greatest(1, floor((total + 1) / 2))",
        "value_high": "greatest(1, ceil((total + 1) / 2))",
    }
    keys = f"period_start, {keep_dimension}segment"
    raw_dimensions = f"dimension IN ({', '.join(map(literal, wanted))})" if dimensions is not None else "true"
    return f"""SELECT {keys}, (value_low + value_high) / 2 AS value, n
               FROM ({_read_ranks([histogram], keys, middle)})
               UNION ALL SELECT {keys}, value, n FROM ({raw}) WHERE {raw_dimensions}"""


def _backlog_sql(m: Metric, query: Query, settings: Settings) -> str:
    """Tickets open at the end of each period: opened minus closed over every day before its end.

    Periods that ended by the as-of time come from the cube; the one in progress ends at the as-of
    time itself, so it is read raw.
    """
    grain, zone = query.grain, literal(settings.conventions.report_time_zone)
    as_of_day = f"({placeholders(settings.conventions, settings)['as_of']} AT TIME ZONE {zone})::DATE"
    period_filters = [f"(p + INTERVAL 1 {grain})::DATE <= {as_of_day}"]
    if query.date_from:
        period_filters.append(f"p::DATE >= DATE {literal(query.date_from.isoformat())}")
    if query.date_to:
        period_filters.append(f"p::DATE <= DATE {literal(query.date_to.isoformat())}")
    days = f"kpi_cube WHERE metric = {literal(m.name)} AND dimension = {literal(query.dimension or 'overall')}"
    in_progress = _period_start_of(
        settings.as_of.astimezone(ZoneInfo(settings.conventions.report_time_zone)).date(), grain
    )
    raw = Compiler(replace(query, date_from=max(query.date_from or in_progress, in_progress)), settings).sql(m)
    return f"""
        WITH periods AS (
            SELECT p::DATE AS period_start, (p + INTERVAL 1 {grain})::DATE AS end_day
            FROM (SELECT date_trunc('{grain}', min(day))::DATE AS first_period FROM {days}),
                 unnest(generate_series(first_period::TIMESTAMP, {as_of_day}::TIMESTAMP, INTERVAL 1 {grain})) AS g(p)
            WHERE {" AND ".join(period_filters)})
        SELECT p.period_start, c.segment, (sum(c.opened) - sum(c.closed))::DOUBLE AS value
        FROM periods p JOIN (SELECT day, segment, opened, closed FROM {days}) c ON c.day < p.end_day
        GROUP BY ALL HAVING sum(c.opened) - sum(c.closed) > 0
        UNION ALL
        SELECT period_start, segment, value FROM ({raw})"""


# Below this many tickets the raw tables answer in well under a second: no cube to keep up.
CUBE_MIN_TICKETS = 100_000


def refresh_cube(con: duckdb.DuckDBPyConnection) -> None:
    """After a load or an undo: rebuild the cube for the conventions in force, or drop it for a small warehouse."""
    if con.sql("SELECT count(*) FROM tickets").fetchall()[0][0] >= CUBE_MIN_TICKETS:
        build_cube(con, load_settings())
    else:
        con.execute("DELETE FROM kpi_cube_meta")
