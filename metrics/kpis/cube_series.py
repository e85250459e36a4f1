"""A metric's series overall and per segment of several dimensions, read from the KPI cube in one query.

Grain: one row per dimension, segment and period of one metric, with ``compute_dimensions``'
columns (value, numerator, denominator, n, complete, reason). The crisis radar judges every
scanned metric in every dimension; asked one dimension at a time, ``compute`` repeats its
setup (the cube's state, the data's first day, the inputs' presence) and one query per
dimension. Here the cube's answer for each dimension (metrics/kpis/cube_answers.py, the same SQL
``compute`` runs) is read in one query and finished once, so the numbers are ``compute``'s.
"""

from __future__ import annotations

import duckdb
import polars as pl

from metrics.kpis import cube_answers
from metrics.kpis.catalog import metric
from metrics.kpis.cube import cube_state
from metrics.kpis.intervals import means_from_sums, values_and_intervals
from metrics.kpis.no_data import input_presence, mark_no_data
from metrics.kpis.periods import PERIOD_STEP, coverage
from metrics.kpis.settings import Settings
from metrics.kpis.sql import Query, declare_macros, literal


def series_by_dimension(
    con: duckdb.DuckDBPyConnection, name: str, grain: str, settings: Settings, dimensions: tuple[str, ...]
) -> pl.DataFrame | None:
    """``name`` at ``grain`` for each of ``dimensions`` ("overall" the whole organisation) from the cube.

    None when the cube cannot answer one of them (not built, built for other conventions or
    data, or a metric it does not hold): the caller reads the raw tables then.
    """
    m = metric(name)
    state = cube_state(con, settings)
    queries = {d: Query((name,), grain, None if d == "overall" else d) for d in dimensions}
    if not queries or not all(cube_answers.answers(state, m, q) for q in queries.values()):
        return None
    declare_macros(con, settings.conventions)
    sql = " UNION ALL ".join(
        f"SELECT {literal(d)} AS dimension, * FROM ({cube_answers.cube_sql(m, q, settings, state)})"
        for d, q in queries.items()
    )
    finished = values_and_intervals(m, means_from_sums(m, con.sql(sql).pl()))
    # The inputs' presence of every cube dimension at once, as ``compute_dimensions`` asks it.
    presence = input_presence(con, m, Query((name,), grain), settings, cube=True)
    finished = mark_no_data(m, finished, presence)
    return (
        finished.filter(pl.col("dimension").is_in(list(dimensions)))
        .with_columns(
            pl.lit(name).alias("metric"),
            pl.col("period_start").dt.offset_by(PERIOD_STEP[grain]).alias("period_end"),
        )
        .with_columns(coverage(con, settings).complete(grain).alias("complete"))
        .drop("period_end")
    )
