"""Which segments exist: a dimension the data does not record is no breakdown, filter or place of a crisis.

Grain: frames of KPI results in and out, one row per metric, dimension, segment and period (as
``compute`` returns them), less the rows of segments that do not exist; and the dimensions the
warehouse records a value of, for the splits the pages offer. Blank values read
``NOT_RECORDED`` (see ``grouping_sets`` in metrics/kpis/sql.py): when every row of a dimension
is blank, its one "segment" is the whole organisation under another name, and a survey file
without channel, team or product would otherwise raise the same crisis once per dimension.
"""

from __future__ import annotations

import duckdb
import polars as pl

from metrics.kpis.sql import ALL_SEGMENTS
from pipelines.warehouse.schema import TABLES

# The segment of the rows a dimension has no value for.
NOT_RECORDED = "(none)"


def segments_that_exist(
    frame: pl.DataFrame, weight: str, min_segments: int = 1, blank_min_share: float = 0.0
) -> pl.DataFrame:
    """The rows of ``frame`` whose segment exists, judged per metric and dimension over all its periods.

    The blank segment stays only when it holds at least ``blank_min_share`` of the dimension's
    ``weight`` (answers, tickets) and the dimension records values elsewhere; a dimension then
    needs ``min_segments`` segments left: two, where a lone segment would just repeat the whole
    organisation (the radar, a breakdown explaining a change). The overall rows always stay.
    """
    if frame.is_empty():
        return frame
    place = ["metric", "dimension"]
    totals = (
        frame.group_by(*place, "segment")
        .agg(pl.col(weight).cast(pl.Float64).fill_null(0.0).fill_nan(0.0).sum().alias("weight"))
        .with_columns((pl.col("weight") / pl.col("weight").sum().over(place)).alias("share"))
        .with_columns((pl.col("segment") != NOT_RECORDED).any().over(place).alias("recorded"))
    )
    blank = pl.col("segment") == NOT_RECORDED
    kept = totals.filter(
        (pl.col("segment") == ALL_SEGMENTS)
        | ~blank
        | (pl.col("recorded") & (pl.col("share").fill_nan(0.0) >= blank_min_share))
    )
    kept = kept.filter((pl.col("dimension") == "overall") | (pl.len().over(place) >= min_segments))
    return frame.join(kept.select(*place, "segment"), on=[*place, "segment"], how="semi")


def recorded_dimensions(con: duckdb.DuckDBPyConnection, dimensions: tuple[str, ...]) -> tuple[str, ...]:
    """Those of ``dimensions`` some ticket or complaint has a value for, in the order given.

    Survey answers take their segments from their tickets, so these two tables say it for every source.
    """
    found: set[str] = set()
    for table in (TABLES["tickets"], TABLES["complaints"]):
        columns = [d for d in dimensions if d in table.column_names and d not in found]
        if columns:
            checks = ", ".join(f"bool_or({c} IS NOT NULL)" for c in columns)
            row = con.sql(f"SELECT {checks} FROM {table.name}").fetchall()[0]
            found.update(c for c, present in zip(columns, row, strict=True) if present)
    return tuple(d for d in dimensions if d in found)
