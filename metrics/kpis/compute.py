"""The one compute function: KPI values with intervals, targets and status, from SQL generated from the catalog.

Grain of the result: one row per metric, period and segment. Ratios are counted at that
grain (sum of numerator over sum of denominator), never averaged from finer periods.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, timedelta
from typing import Protocol

import duckdb
import numpy as np
import polars as pl
from scipy import stats

from metrics.kpis import cube_answers
from metrics.kpis.catalog import GRAINS, Metric, catalog, metric
from metrics.kpis.cube import CubeState, cube_state, histogram_key
from metrics.kpis.intervals import means_from_sums, values_and_intervals
from metrics.kpis.no_data import exports_filled, input_presence, mark_no_data, needs_exports
from metrics.kpis.periods import PERIOD_STEP, coverage
from metrics.kpis.settings import Settings, on_data_clock
from metrics.kpis.sql import CUBE_DIMENSIONS, RANGE, Compiler, Query, declare_macros, literal
from metrics.kpis.trends import Decomposition, Forecast, change_p_values, decompose, forecast
from pipelines.common.segments import Segments

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
    "reason": pl.String,  # why a record is no data: the input (column) that would give it
}


class Engine(Protocol):
    """Another engine the compiler's SQL runs on (metrics/kpis/spark.py): its name, and rows as a frame."""

    engine: str

    def frame(self, sql: str) -> pl.DataFrame: ...


STATUSES = {
    "met": "target met",
    "not_credibly_missed": "below target, but within the uncertainty",
    "missed": "target credibly missed",
    "small_sample": "too few observations to judge",
    "no_target": "no target set",
    "no_data": "no data",
}


def compute_dimensions(
    con: duckdb.DuckDBPyConnection,
    name: str,
    grain: str,
    settings: Settings,
    dimensions: tuple[str, ...],
    date_from: date | None = None,
    date_to: date | None = None,
    filters: Segments = (),
) -> pl.DataFrame:
    """One metric at ``grain`` overall and per segment of several dimensions, in one scan.

    For what the daily cube does not hold (the radar's medians, p90s and backlog ages; a
    segment's breakdown by every other dimension): one pass with GROUPING SETS instead of one
    per dimension, or weekly medians and p90s from the duration histograms. Columns as
    ``compute`` (with ``dimension``), no target or status.
    """
    m = metric(name)
    query = Query((name,), grain, None, date_from, date_to, filters)
    declare_macros(con, settings.conventions)
    state = cube_state(con, settings)
    cubed = tuple(d for d in dimensions if d in ("overall", *CUBE_DIMENSIONS))
    if m.kind == "quantile" and cube_answers.answers(state, m, query):
        rows = con.sql(cube_answers.quantile_sql(m, query, settings, cubed)).pl()
    elif m.kind == "backlog" and m.fields["aggregate"] != "count" and cube_answers.answers(state, m, query):
        rows = con.sql(cube_answers.backlog_age_sql(m, query, settings, state, cubed)).pl()
    else:
        rows = grouped_rows(con, m, query, settings, dimensions)
    finished = values_and_intervals(m, means_from_sums(m, rows))
    finished = mark_no_data(m, finished, input_presence(con, m, query, settings, cube=True))
    missing = [
        pl.lit(None, dtype=RESULT_SCHEMA[c]).alias(c) for c in ("ci_low", "ci_high") if c not in finished.columns
    ]
    return (
        finished.with_columns(missing)
        .filter(pl.col("dimension").is_in(list(dimensions)))
        .with_columns(
            pl.lit(name).alias("metric"),
            pl.col("period_start").dt.offset_by(PERIOD_STEP[grain]).alias("period_end"),
        )
        .with_columns(coverage(con, settings, date_from, date_to).complete(grain).alias("complete"))
        .drop("period_end")
    )


def grouped_rows(
    con: duckdb.DuckDBPyConnection, m: Metric, query: Query, settings: Settings, dimensions: tuple[str, ...]
) -> pl.DataFrame:
    """The metric's rows per period for every dimension, from the raw rows: one pass, or one per dimension.

    A median of raw rows holds every value of every group at once and cannot spill to disk: at
    ten million tickets, the daily medians of six dimensions together exceed DuckDB's memory
    limit. Out of memory, each dimension is asked alone (its own grouping, a sixth of the values).
    """
    try:
        return con.sql(Compiler(query, settings).sql(m, cube=True)).pl()
    except duckdb.OutOfMemoryException:
        if len(dimensions) < 2:
            raise
    return rows_by_dimension(con, m, query, settings, dimensions)


def rows_by_dimension(
    con: duckdb.DuckDBPyConnection, m: Metric, query: Query, settings: Settings, dimensions: tuple[str, ...]
) -> pl.DataFrame:
    """The rows ``grouped_rows`` gives in one pass (of the dimensions it groups by), one dimension at a time."""
    parts = []
    for d in (d for d in dimensions if d in ("overall", *CUBE_DIMENSIONS)):
        part = con.sql(Compiler(replace(query, dimension=None if d == "overall" else d), settings).sql(m)).pl()
        parts.append(part.select("period_start", pl.lit(d).alias("dimension"), pl.exclude("period_start")))
    return pl.concat(parts, how="diagonal_relaxed")


def metric_sql(name: str, query: Query, settings: Settings) -> str:
    """The SQL that computes one metric for a query (shown in docs and used by tests and benchmarks)."""
    return Compiler(query, settings).sql(metric(name))


def _status(frame: pl.DataFrame, metrics: list[Metric], settings: Settings, dimension: str | None) -> pl.DataFrame:
    """Each record's target (its segment's own, else its metric's) and its status against it, all metrics at once."""
    overrides = [
        (t.metric, t.segment, t.value, t.bound)
        for t in settings.targets
        if dimension and t.dimension == dimension and any(t.metric == m.name for m in metrics)
    ]
    defaults = {m.name: settings.target_for(m.name) for m in metrics}
    own = pl.DataFrame(
        overrides,
        schema={"metric": pl.String, "segment": pl.String, "__value": pl.Float64, "__bound": pl.String},
        orient="row",
    ).unique(["metric", "segment"], keep="last")  # a later override of a segment wins
    by_metric = pl.col("metric")
    default_value = by_metric.replace_strict(
        {n: t.value if t else None for n, t in defaults.items()}, default=None, return_dtype=pl.Float64
    )
    default_bound = by_metric.replace_strict(
        {n: t.bound if t else None for n, t in defaults.items()}, default=None, return_dtype=pl.String
    )
    interval = by_metric.replace_strict({m.name: m.is_interval_metric for m in metrics}, return_dtype=pl.Boolean)
    with_overrides = frame.join(own, on=["metric", "segment"], how="left", maintain_order="left")
    frame = with_overrides.with_columns(
        pl.when(pl.col("__bound").is_not_null()).then(pl.col("__value")).otherwise(default_value).alias("target"),
        pl.when(pl.col("__bound").is_not_null()).then(pl.col("__bound")).otherwise(default_bound).alias("target_bound"),
    ).drop("__value", "__bound")
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
        .when(small & interval)
        .then(pl.lit("small_sample"))
        .when(met)
        .then(pl.lit("met"))
        .when(credibly_missed.fill_null(True))
        .then(pl.lit("missed"))
        .otherwise(pl.lit("not_credibly_missed"))
    )
    return frame.with_columns(status.alias("status"))


def compute(
    con: duckdb.DuckDBPyConnection,
    query: Query,
    settings: Settings | None = None,
    use_cube: bool = True,
    engine: Engine | None = None,
) -> pl.DataFrame:
    """Every requested metric at the query's grain and dimension, with interval, target and status.

    Periods with no data for a metric do not appear; the caller decides whether a gap is zero
    (counts) or unknown (rates). Additive metrics are read from the daily KPI cube when it is
    current (metrics/kpis/cube.py), with the same result as from the raw tables (``use_cube=False``).
    With ``engine`` (Spark, metrics/kpis/spark.py) the metrics' aggregates are computed there from
    the raw tables; the data's clock, coverage and no-data checks are still asked of ``con``.
    """
    settings = on_data_clock(con, settings)
    if query.grain not in (*GRAINS, RANGE):
        raise ValueError(f"unknown grain {query.grain!r}; use one of {', '.join(GRAINS)}")
    declare_macros(con, settings.conventions)
    state = cube_state(con, settings) if use_cube and engine is None else None
    whole = coverage(con, settings, query.date_from, query.date_to)
    raws = _raw_frames(con, query, settings, state, engine)
    # Each metric's own columns made the common ones; what every record gets alike is added once, below.
    common = ("grain", "dimension", "period_end", "target", "target_bound", "status", "complete")
    frames = []
    # Asked once for every metric: each would otherwise ask the warehouse's version again.
    filled = exports_filled(con) if needs_exports([metric(name) for name in query.metrics]) else {}
    for name in query.metrics:
        m = metric(name)
        finished = values_and_intervals(m, means_from_sums(m, raws[name]))
        finished = finished.with_columns(
            pl.lit(None, dtype=dtype).alias(column)
            for column, dtype in RESULT_SCHEMA.items()
            if column not in finished.columns and column not in ("reason", "metric", *common)
        )
        finished = mark_no_data(m, finished, input_presence(con, m, query, settings, filled=filled)).with_columns(
            pl.lit(name).alias("metric")
        )
        frames.append(finished.select([pl.col(c).cast(t) for c, t in RESULT_SCHEMA.items() if c not in common]))
    if not frames:
        return pl.DataFrame(schema=RESULT_SCHEMA)
    period_end = (
        pl.lit((query.date_to or settings.as_of.date()) + timedelta(days=1))
        if query.grain == RANGE
        else pl.col("period_start").dt.offset_by(PERIOD_STEP[query.grain])
    )
    every = pl.concat(frames).with_columns(
        pl.lit(query.grain).alias("grain"),
        pl.lit(query.dimension or "overall").alias("dimension"),
        period_end.alias("period_end"),
    )
    every = _status(every, [metric(name) for name in dict.fromkeys(query.metrics)], settings, query.dimension)
    # Whole only when the data and the chosen dates cover all of the period, and it has ended.
    every = every.with_columns(whole.complete(query.grain).alias("complete"))
    return every.select([pl.col(c).cast(t) for c, t in RESULT_SCHEMA.items()]).sort("metric", "segment", "period_start")


def _raw_frames(
    con: duckdb.DuckDBPyConnection,
    query: Query,
    settings: Settings,
    state: CubeState | None,
    engine: Engine | None = None,
) -> dict[str, pl.DataFrame]:
    """Each metric's aggregates, as its own SQL gives them, in as few statements as the cube allows.

    The cube's additive metrics come in one statement, and quantiles of the same durations (a
    median and a p90) in one read of their histogram; the rest, one statement each. A statement
    costs a few milliseconds however few rows it reads, which was most of the answer for many metrics.
    """
    metrics = [metric(name) for name in dict.fromkeys(query.metrics)]
    cubed = [m for m in metrics if cube_answers.answers(state, m, query)]
    frames: dict[str, pl.DataFrame] = {}
    additive = [m for m in cubed if m.kind in cube_answers.COLUMNS]
    if len(additive) > 1:
        sql = cube_answers.additive_sql(additive, query, settings, state)
        frames.update(cube_answers.split_additive(con.sql(sql).pl(), additive))
    shared: dict[str, list[Metric]] = {}
    for m in cubed:
        if m.kind == "quantile":
            shared.setdefault(histogram_key(m), []).append(m)
    for together in shared.values():
        if len(together) > 1:
            sql = cube_answers.quantiles_sql(together, query, settings)
            frames.update(cube_answers.split_quantiles(con.sql(sql).pl(), together))
    if engine is not None:
        compiler = Compiler(query, settings, engine=engine.engine)
        return {m.name: engine.frame(compiler.sql(m)) for m in metrics}
    compiler = Compiler(query, settings)
    for m in metrics:
        if m.name not in frames:
            sql = cube_answers.cube_sql(m, query, settings, state) if m in cubed else compiler.sql(m)
            frames[m.name] = con.sql(sql).pl()
    return frames


def with_changes(results: pl.DataFrame, alpha: float = 0.05) -> pl.DataFrame:
    """Add the change on the previous period of each metric and segment, and whether it is more than noise.

    Proportions use a pooled two-proportion z-test, counts a Poisson test on the two counts; medians,
    p90s, means and NPS call a change significant when the two 95% intervals do not overlap (conservative).
    A change is only between two complete periods: next to a period cut short it is null, as is its significance.
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
        .pipe(between_complete_periods)
    )


def between_complete_periods(changes: pl.DataFrame) -> pl.DataFrame:
    """``with_changes``'s change, p-value and significance left only where this and the previous period are whole.

    A week of two days is not a drop, nor the whole week after it a rise.
    """
    previous_complete = pl.col("complete").shift(1).over("metric", "segment", order_by="period_start")
    both = (pl.col("complete") & previous_complete).fill_null(False)
    return changes.with_columns(
        pl.when(both).then(pl.col(c)).alias(c) for c in ("change", "change_p_value", "change_significant")
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
    filters: Segments = (),
    horizon: int = 12,
) -> KpiTrend:
    """STL components and a damped-trend forecast of one metric's complete weeks, with the target crossing."""
    settings = on_data_clock(con, settings)
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
    compiler = Compiler(query, settings)
    where = None
    if segment is not None and query.dimension:
        where = f"coalesce(CAST({compiler.segment} AS VARCHAR), '(none)') = {literal(segment)}"
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
    inner = records_sql(source, query, on_data_clock(con, settings), segment)
    frame = con.sql(
        f"SELECT * EXCLUDE (attributes) FROM ({inner}) ORDER BY {RECORD_TIME[source]} DESC LIMIT {int(limit)}"
    ).pl()
    return frame.drop([c for c in ("row_hash", "batch_id") if c in frame.columns])


def all_metric_names() -> tuple[str, ...]:
    """Every metric of the catalog, in declaration order."""
    return tuple(catalog())
