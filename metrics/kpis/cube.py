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

The cube answers (metrics/kpis/cube_answers.py) only when it was built for the conventions in
force and for the data as it is (the batches it saw); otherwise ``compute`` reads the raw tables.
Segment filters, other dimensions, daily, monthly and quarterly quantiles and backlog ages
always read the raw tables.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import duckdb

from metrics.kpis.catalog import Metric, catalog, catalog_version
from metrics.kpis.dialect import Spelling
from metrics.kpis.settings import Settings, on_data_clock
from metrics.kpis.sql import (
    CUBE_DIMENSIONS,
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


@dataclass(frozen=True)
class CubeState:
    built_as_of: datetime
    metrics: frozenset[str]


def conventions_key(settings: Settings) -> str:
    # The plausible bound decides which rows count: a cube built under another (or before there was one,
    # when a placeholder date could stretch its days back to year 1) no longer answers; nor one built
    # from other definitions of the metrics.
    key = f"{settings.conventions!r} earliest {settings.earliest.isoformat()} catalog {catalog_version()}"
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


def histogram_metrics() -> list[Metric]:
    """The quantile metrics, answered from weekly duration histograms."""
    return [m for m in catalog().values() if m.kind == "quantile"]


def histogram_key(m: Metric) -> str:
    """Metrics reading the same durations of the same rows (a median and a p90) share one histogram."""
    return "|".join(str(m.fields.get(f, "")) for f in ("source", "time", "where", "duration"))


def bucket_sql(minutes: str) -> str:
    """Buckets ordered as durations: 2% wide above a hundredth of a minute, one minute wide below zero."""
    return f"""CASE WHEN {minutes} > 0.01 THEN ceil(ln({minutes}) / ln({BUCKET_RATIO}))::INTEGER
                    WHEN {minutes} >= 0 THEN -250 ELSE -251 - floor(-{minutes})::INTEGER END"""


def histogram_build_sql(
    m: Metric, settings: Settings, weeks: tuple[date, date] | None = None, engine: str = "duckdb"
) -> str:
    """The histogram rows of ``m``'s weeks, or of those from ``weeks[0]`` to ``weeks[1]`` (both Mondays)."""
    start, end = (weeks[0], weeks[1] + timedelta(days=6)) if weeks else (None, None)
    compiler = Compiler(Query((m.name,), "week", date_from=start, date_to=end), settings, engine=engine)
    f = m.fields
    duration = fill(f["duration"], compiler.values)
    segments, dimension, segment, sets = grouping_sets(keys="bucket")
    return f"""SELECT period_start AS week, {dimension}, {segment}, bucket, count(*) AS n, min(minutes) AS lo,
                      max(minutes) AS hi
               FROM (SELECT {compiler.period(f["time"])} AS period_start, {segments}, {duration} AS minutes,
                            {bucket_sql(duration)} AS bucket
                     FROM {compiler.source(f["source"])} src
                     WHERE {compiler.conditions(f["time"], f"({f.get('where') or 'true'}) AND {duration} IS NOT NULL")})
               GROUP BY GROUPING SETS ({sets})"""


def daily_plan(compiler: Compiler, metrics: list[Metric]) -> tuple[dict[str, str], list[str]]:
    """How the daily rows of every metric are made, on any engine: scans to keep, then SELECTs of cube rows.

    One scan per source and time column is shared by all the metrics reading it (kept as a
    temporary table named by the key); each SELECT gives some of ``kpi_cube``'s columns, by name.
    """
    scans: dict[tuple[str, str], list[DailySide]] = {}
    rows = []
    for m in metrics:
        if m.kind == "backlog":
            rows.append(
                f"""SELECT {literal(m.name)} AS metric, period_start AS day, dimension, segment, opened, closed
                    FROM ({_backlog_events_sql(compiler)}) events"""
            )
            continue
        for side in _daily_sides(compiler, m):
            scans.setdefault((side.source, side.time_column), []).append(side)
    tables = {}
    for k, ((source, time_column), sides) in enumerate(scans.items()):
        tables[f"cube_scan_{k}"] = _scan_sql(compiler, source, time_column, sides)
        for i, side in enumerate(sides):
            columns = ", ".join(
                f"CAST(side{i}__{column} AS {'BIGINT' if column == 'n' else 'DOUBLE'}) AS {column}"
                for column in side.aggregates
            )
            rows.append(
                f"""SELECT {literal(side.metric)} AS metric, period_start AS day, dimension, segment, {columns}
                    FROM cube_scan_{k} WHERE side{i}__rows > 0"""
            )
    return tables, rows


def _insert_daily(con: duckdb.DuckDBPyConnection, compiler: Compiler, metrics: list[Metric]) -> None:
    """The daily rows of every metric, inserted (ordered by dimension and day, which DuckDB's zone maps skip by)."""
    scans, rows = daily_plan(compiler, metrics)
    for name, sql in scans.items():
        con.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS {sql}")
    for sql in rows:
        con.execute(f"INSERT INTO kpi_cube BY NAME SELECT * FROM ({sql}) ORDER BY dimension, day")
    for name in scans:
        con.execute(f"DROP TABLE IF EXISTS {name}")


@dataclass(frozen=True)
class DailySide:
    """Aggregates of one metric over the rows of one source dated by one time column that meet ``where``."""

    metric: str
    source: str
    time_column: str
    where: str
    aggregates: dict[str, tuple[str, str | None]]  # cube column: (aggregate call, its own row condition or None)


def _daily_sides(compiler: Compiler, m: Metric) -> list[DailySide]:
    """The metric's aggregates, on one side per source it reads.

    The cube builds every metric read from the same source by the same time in one scan, each
    aggregate restricted to its metric's rows (and to its own condition, if any); a ratio has a
    side for each of its two sources.
    """
    f = m.fields
    where = fill(f.get("where") or "true", compiler.values)
    if m.kind == "proportion":
        aggregates = {
            "numerator": ("count(*)", fill(f["numerator"], compiler.values)),
            "denominator": ("count(*)", None),
        }
    elif m.kind == "count":
        aggregates = {"value": ("count(*)", None)}
    elif m.kind == "nps":
        value = fill(f["value"], compiler.values)
        aggregates = {
            "promoters": ("count(*)", f"{value} >= 9"),
            "detractors": ("count(*)", f"{value} <= 6"),
            "n": ("count(*)", None),
        }
    elif m.kind == "mean":
        value = fill(f["value"], compiler.values)
        aggregates = {
            "value_sum": (f"sum({value})", None),
            "value_sum_squares": (f"sum(({value}) ^ 2)", None),
            "n": (f"count({value})", None),
        }
    elif m.kind == "ratio":
        count = fill(f.get("denominator_count", "count(*)"), compiler.values)
        return [
            DailySide(m.name, f["numerator_source"], f["numerator_time"],
                      fill(f.get("numerator_where") or "true", compiler.values), {"numerator": ("count(*)", None)}),
            DailySide(m.name, f["denominator_source"], f["denominator_time"],
                      fill(f.get("denominator_where") or "true", compiler.values), {"denominator": (count, None)}),
        ]  # fmt: skip
    else:
        raise ValueError(f"{m.name}: a {m.kind} is not kept in the daily cube")
    return [DailySide(m.name, f["source"], f["time"], where, aggregates)]


def _scan_sql(compiler: Compiler, source: str, time_column: str, sides: list[DailySide]) -> str:
    """One scan of ``source`` by ``time_column`` for several sides: each aggregate filtered to its side's rows,
    with ``side{i}__rows`` counting them (a side has no row for a segment and day it has no rows in)."""
    segments, dimension, segment, sets = grouping_sets()
    columns = []
    for i, side in enumerate(sides):
        columns.append(f"count(*) FILTER (WHERE {side.where}) AS side{i}__rows")
        for name, (call, condition) in side.aggregates.items():
            rows = f"({side.where}) AND ({condition})" if condition else side.where
            columns.append(f"{call} FILTER (WHERE {rows}) AS side{i}__{name}")
    return f"""SELECT period_start, {dimension}, {segment}, {", ".join(columns)}
               FROM (SELECT {compiler.period(time_column)} AS period_start, {segments}, src.*
                     FROM {compiler.source(source)} src WHERE {compiler.conditions(time_column, None)}) src
               GROUP BY GROUPING SETS ({sets})"""


def _backlog_events_sql(compiler: Compiler) -> str:
    """Tickets opened and closed per local day, overall and per segment: the cube's rows for the backlog count.

    A ticket is open at a moment when it was created before it and closed at or after it, so
    the backlog at a day's end is the running total of opened minus closed. A close stamped
    before its creation counts at the creation, which nets to never open, as the raw join has it.
    """
    closed, e = "coalesce(resolved_at, closed_at)", compiler.values["earliest"]
    opened_in, closed_in = "", ""
    if compiler.query.date_from and compiler.query.date_to:
        # Only the days being refreshed (see cube_refresh.py): a loose bound on the stored moments lets
        # DuckDB skip row groups before the local day of each event is worked out.
        start = f"TIMESTAMPTZ {literal(compiler.query.date_from.isoformat())} - INTERVAL 1 DAY"
        end = f"TIMESTAMPTZ {literal((compiler.query.date_to + timedelta(days=1)).isoformat())} + INTERVAL 1 DAY"
        opened_in = f" AND created_at >= {start} AND created_at < {end}"
        closed_in = f" AND created_at < {end} AND {closed} < {end} AND greatest({closed}, created_at) >= {start}"
    events = f"""SELECT created_at AS event_at, 1 AS opened, 0 AS closed, * FROM tickets
                 WHERE created_at >= {e}{opened_in}
                 UNION ALL
                 SELECT greatest({closed}, created_at) AS event_at, 0, 1, * FROM tickets
                 WHERE {closed} IS NOT NULL AND created_at >= {e}{closed_in}"""
    segments, dimension, segment, sets = grouping_sets()
    return f"""SELECT period_start, {dimension}, {segment}, sum(opened)::BIGINT AS opened,
                      sum(closed)::BIGINT AS closed
               FROM (SELECT {compiler.period("event_at")} AS period_start, {segments}, src.*
                     FROM ({events}) src WHERE {compiler.conditions("event_at", None)}) src
               GROUP BY GROUPING SETS ({sets})"""


def build_cube(con: duckdb.DuckDBPyConnection, settings: Settings | None = None, histograms: bool = True) -> int:
    """Rebuild the cube for ``settings``' conventions in one transaction; returns its number of rows.

    The duration and backlog-age histograms are built with ``histograms`` (at every size: without
    them the medians and backlog ages would read the raw tables).
    """
    settings = on_data_clock(con, settings)
    metrics = cube_metrics(settings)
    compiler = Compiler(Query(tuple(m.name for m in metrics), "day"), settings)
    declare_macros(con, settings.conventions)
    with transaction(con):
        for table in ("kpi_cube", "kpi_cube_meta", "kpi_histogram", "kpi_backlog_ages"):
            con.execute(f"DELETE FROM {table}")
        _insert_daily(con, compiler, metrics)
        quantiles = histogram_metrics() if histograms else []
        insert_histograms(con, settings, quantiles)
        if histograms:
            insert_backlog_ages(con, settings)
        write_meta(con, settings, [m.name for m in metrics + quantiles] + (["backlog_age"] if histograms else []))
        rows = con.sql("SELECT count(*) FROM kpi_cube").fetchall()[0][0]
    return rows


def insert_daily(con: duckdb.DuckDBPyConnection, settings: Settings, first: date, last: date) -> None:
    """The daily rows of every cube metric for the local days ``first`` to ``last`` (deleted first)."""
    metrics = cube_metrics(settings)
    compiler = Compiler(Query(tuple(m.name for m in metrics), "day", date_from=first, date_to=last), settings)
    con.execute("DELETE FROM kpi_cube WHERE day BETWEEN ? AND ?", [first, last])
    _insert_daily(con, compiler, metrics)


def insert_histograms(
    con: duckdb.DuckDBPyConnection, settings: Settings, quantiles: list[Metric], weeks: tuple[date, date] | None = None
) -> None:
    """The duration histograms of ``quantiles``, of every week or of the Mondays ``weeks[0]`` to ``weeks[1]``."""
    for key, m in {histogram_key(m): m for m in quantiles}.items():
        if weeks:
            con.execute("DELETE FROM kpi_histogram WHERE key = ? AND week BETWEEN ? AND ?", [key, *weeks])
        con.execute(
            f"""INSERT INTO kpi_histogram BY NAME SELECT {literal(key)} AS key, *
                FROM ({histogram_build_sql(m, settings, weeks)}) ORDER BY dimension, week, segment, bucket"""
        )


def insert_backlog_ages(con: duckdb.DuckDBPyConnection, settings: Settings, ends: str | None = None) -> None:
    """The backlog ages at every period end, or only at the days of table ``ends`` (deleted first)."""
    bounds = None
    if ends:
        first, last = con.sql(f"SELECT min(day), max(day) FROM {ends}").fetchall()[0]
        if first is None:
            return
        con.execute(f"DELETE FROM kpi_backlog_ages WHERE day IN (SELECT day FROM {ends})")
        bounds = (ends, first, last)
    con.execute(
        f"""INSERT INTO kpi_backlog_ages BY NAME
            SELECT * FROM ({backlog_ages_build_sql(settings, bounds)}) ORDER BY dimension, day, segment, bucket"""
    )


def write_meta(con: duckdb.DuckDBPyConnection, settings: Settings, names: list[str]) -> None:
    """Say which conventions, data and moment the cube now answers for."""
    con.execute("DELETE FROM kpi_cube_meta")
    con.execute(
        "INSERT INTO kpi_cube_meta VALUES (?, ?, ?, now(), ?)",
        [conventions_key(settings), data_version(con), settings.as_of, ",".join(names)],
    )


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


# Weeks end on Sundays, months and quarters on their last days: the days whose ends the backlog
# ages are kept for (daily backlog ages are read raw).
BACKLOG_AGE_GRAINS = ("week", "month", "quarter")


def backlog_ages_build_sql(
    settings: Settings, ends: tuple[str, date, date] | None = None, engine: str = "duckdb"
) -> str:
    """Ages of the tickets open at the end of each week, month and quarter, bucketed, overall and per segment.

    A ticket is open at the end of day D when it was created before and closed at or after that
    moment; the days run to the last one ended when the cube is built. With ``ends`` (a table of
    days, its first and last day; DuckDB's refresh), only the tickets open at the end of those days.
    """
    spell = Spelling(engine)
    zone = literal(settings.conventions.report_time_zone)
    values = placeholders(settings.conventions, settings, spell)
    built = spell("local_date", values["as_of"], zone)
    closed = "coalesce(resolved_at, closed_at)"
    age = spell("minutes_between", "created_at", spell("local_midnight", "day + 1", zone))
    segments, dimension, segment, sets = grouping_sets(keys="bucket")
    within = ""
    if ends:
        # Loose bounds on the stored moments (a zone is at most 14 hours off UTC) skip the tickets
        # closed before the first day or created after the last unread.
        first, last = (literal(d.isoformat()) for d in ends[1:])
        within = f"""AND created_at < TIMESTAMPTZ {last} + INTERVAL 2 DAY
                     AND ({closed} IS NULL OR {closed} >= TIMESTAMPTZ {first} - INTERVAL 1 DAY)"""
    # Only the columns the ages and their segments read (no ``* EXCLUDE``: not every engine has it).
    kept = ", ".join(("created_at", *CUBE_DIMENSIONS))
    spanning = f"""
        SELECT {kept}, {spell("local_date", "created_at", zone)} AS first_day,
               least(coalesce({spell("local_date", closed, zone)}, {built}), {built}) - 1 AS last_open
        FROM tickets WHERE created_at >= {values["earliest"]} {within}"""
    if ends:
        open_at_day_end = f"""SELECT s.*, e.day FROM ({spanning}) s JOIN {ends[0]} e
                              ON e.day BETWEEN s.first_day AND s.last_open"""
    else:
        # Each Sunday and each month's last day (not a Sunday, already there) the ticket was open at the end of.
        first_sunday = f"first_day + CAST((7 - {spell('iso_weekday', 'first_day')}) % 7 AS INTEGER)"
        sundays = spell("period_series", "first_sunday", "last_open", "'week'")
        months = spell("period_series", spell("month_start", "first_day"), "last_open", "'month'")
        month_end = "last_day(CAST(month AS DATE))"
        open_at_day_end = f"""
            WITH spanning AS ({spanning})
            SELECT {kept}, CAST(sunday AS DATE) AS day
            FROM (SELECT {kept}, {sundays} AS sunday
                  FROM (SELECT *, {first_sunday} AS first_sunday FROM spanning) s WHERE last_open >= first_sunday) w
            UNION ALL
            SELECT {kept}, {month_end} AS day
            FROM (SELECT {kept}, last_open, {months} AS month FROM spanning WHERE last_open >= first_day) m
            WHERE {month_end} <= last_open AND {spell("iso_weekday", month_end)} <> 7"""
    return f"""
        SELECT day, {dimension}, {segment}, bucket, count(*) AS n, min(age) AS lo, max(age) AS hi
        FROM (SELECT day, {segments}, {age} AS age, {bucket_sql(age)} AS bucket FROM ({open_at_day_end}) src)
        GROUP BY GROUPING SETS ({sets.replace("period_start", "day")})"""
