"""The series the radar judges, read from the KPIs: one row per metric, dimension, segment and complete period.

A period still in progress is never judged: an incomplete week is not a drop; nor is a record with
no data (its inputs absent from the export), which is not a zero. Only segments that exist are
judged (metrics/kpis/dimensions.py): a dimension the data does not record, or records with one
value only, is the whole organisation again and is left to the overall series. Proportions carry
their bad events and trials, volumes their count, levels (durations, backlog) their value and
the low end of its interval.
"""

from __future__ import annotations

import duckdb
import polars as pl

from metrics.crises.rules import KEYS, rules
from metrics.kpis.compute import Query, compute, compute_dimensions
from metrics.kpis.cube_series import series_by_dimension
from metrics.kpis.dimensions import segments_that_exist
from metrics.kpis.settings import Settings

EMPTY_PROPORTIONS = {**dict.fromkeys(KEYS, pl.String), "period_start": pl.Date, "bad": pl.Float64, "n": pl.Float64}
EMPTY_VOLUMES = {**dict.fromkeys(KEYS, pl.String), "period_start": pl.Date, "count": pl.Float64}
EMPTY_LEVELS = {
    **dict.fromkeys(KEYS, pl.String),
    "period_start": pl.Date,
    **dict.fromkeys(("value", "value_low", "n"), pl.Float64),
}


def scanned_series(
    con: duckdb.DuckDBPyConnection,
    settings: Settings,
    grain: str,
    specs: list[dict] | None = None,
    dimensions: list[str] | None = None,
) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """The proportions, volumes and levels of the scanned metrics (``specs``) per dimension, complete periods only."""
    scan = rules()["scan"]
    proportion_parts, volume_parts, level_parts = [], [], []
    for spec in specs or scan["metrics"]:
        wanted = dimensions or scan["dimensions"]
        if spec["kind"] == "level":
            # Medians and backlog ages are not in the cube: every dimension in one pass over the rows.
            every = compute_dimensions(con, spec["metric"], grain, settings, tuple(wanted))
            results = [(d, every.filter(pl.col("dimension") == d).drop("dimension")) for d in wanted]
        else:
            results = additive_series(con, settings, spec["metric"], grain, wanted)
        for dimension, result in results:
            result = result.filter(pl.col("complete"))
            result = result.filter(pl.col("reason").is_null())  # no data (an input absent) is not a measurement
            if result.is_empty():
                continue
            tagged = result.with_columns(pl.lit(dimension).alias("dimension"))
            if spec["kind"] == "volume":
                volume_parts.append(tagged.select(*KEYS, "period_start", pl.col("value").alias("count")))
            elif spec["kind"] == "level":
                level_parts.append(
                    tagged.select(
                        *KEYS,
                        "period_start",
                        "value",
                        pl.col("ci_low").fill_null(pl.col("value")).alias("value_low"),
                        pl.col("n").cast(pl.Float64).fill_null(0.0),
                    )
                )
            else:
                proportion_parts.append(
                    tagged.select(
                        *KEYS, "period_start", bad_events(spec).alias("bad"), pl.col("denominator").alias("n")
                    )
                )
    proportions = pl.concat(proportion_parts) if proportion_parts else pl.DataFrame(schema=EMPTY_PROPORTIONS)
    volumes = pl.concat(volume_parts) if volume_parts else pl.DataFrame(schema=EMPTY_VOLUMES)
    levels = pl.concat(level_parts) if level_parts else pl.DataFrame(schema=EMPTY_LEVELS)
    return existing(proportions, "n"), existing(volumes, "count"), existing(levels, "n")


def additive_series(
    con: duckdb.DuckDBPyConnection, settings: Settings, name: str, grain: str, dimensions: list[str]
) -> list[tuple[str, pl.DataFrame]]:
    """A rate or count in each dimension: every dimension in one read of the cube, else one ``compute`` each."""
    every = series_by_dimension(con, name, grain, settings, tuple(dimensions))
    if every is not None:
        return [(d, every.filter(pl.col("dimension") == d).drop("dimension")) for d in dimensions]
    return [(d, compute(con, Query((name,), grain, None if d == "overall" else d), settings)) for d in dimensions]


def existing(series: pl.DataFrame, weight: str) -> pl.DataFrame:
    """The series of segments that exist: two or more per dimension, blanks only when a real share of it.

    A blank share below ``not_recorded_min_share`` is a few rows someone did not fill in, not a
    population anyone acts on; with it, the dimension's one real value would repeat the whole
    organisation's crisis under its name.
    """
    share = rules()["scan"]["not_recorded_min_share"]
    return segments_that_exist(series, weight, min_segments=2, blank_min_share=share)


def bad_events(spec: dict) -> pl.Expr:
    """A proportion's bad events: the complement of a satisfied share, or the numerator itself."""
    return pl.col("denominator") - pl.col("numerator") if spec["bad"] == "complement" else pl.col("numerator")
