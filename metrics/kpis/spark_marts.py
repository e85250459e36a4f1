"""The marts built on Spark: the daily KPI cube, the duration histograms and the backlog ages of a lake.

The pattern of ThirdEye over Pinot or Presto: the engine that holds the rows aggregates them to
days, weeks and segments; the dashboard and the radar read those small marts through DuckDB
(``open_lake``) as they read the warehouse's own. The SQL is the cube's (metrics/kpis/cube.py),
spelled for Spark, so a mart built here holds the rows DuckDB's build would: the tests compare
them row for row.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from metrics.kpis.cube import (
    backlog_ages_build_sql,
    conventions_key,
    cube_metrics,
    daily_plan,
    data_version,
    histogram_build_sql,
    histogram_key,
    histogram_metrics,
)
from metrics.kpis.settings import Settings, on_data_clock
from metrics.kpis.spark import SparkEngine, spark_session
from metrics.kpis.sql import Compiler, Query, literal
from pipelines.warehouse.lake import open_lake, warehouse_mart_columns, write_marts

# The Spark spelling of the marts' DuckDB types (the types themselves: the migrations, ``warehouse_mart_columns``).
SPARK_TYPES = {"VARCHAR": "STRING", "INTEGER": "INT"}


def _typed(frame: Any, table: str) -> Any:
    """``frame`` with exactly the mart's columns, in order and typed as the warehouse's (a column it lacks is null)."""
    from pyspark.sql import functions as F

    present = set(frame.columns)
    return frame.select(
        [
            (F.col(name) if name in present else F.lit(None)).cast(SPARK_TYPES.get(kind, kind)).alias(name)
            for name, kind in warehouse_mart_columns()[table]
        ]
    )


def mart_frames(engine: SparkEngine, settings: Settings) -> dict[str, Any]:
    """The three marts as Spark DataFrames, from the tables registered on ``engine``."""
    metrics = cube_metrics(settings)
    compiler = Compiler(Query(tuple(m.name for m in metrics), "day"), settings, engine=engine.engine)
    scans, rows = daily_plan(compiler, metrics)
    session = engine.session
    for name, sql in scans.items():
        # Every metric reading a source by one time column selects from the same scan: keep it.
        session.sql(engine.sql(sql)).cache().createOrReplaceTempView(name)
    daily = [_typed(session.sql(engine.sql(sql)), "kpi_cube") for sql in rows]
    histograms = []
    for key, m in {histogram_key(m): m for m in histogram_metrics()}.items():
        sql = f"SELECT {literal(key)} AS key, h.* FROM ({histogram_build_sql(m, settings, None, engine.engine)}) h"
        histograms.append(_typed(session.sql(engine.sql(sql)), "kpi_histogram"))
    ages = _typed(session.sql(engine.sql(backlog_ages_build_sql(settings, None, engine.engine))), "kpi_backlog_ages")
    return {"kpi_cube": _union(daily), "kpi_histogram": _union(histograms), "kpi_backlog_ages": ages}


def _union(frames: list[Any]) -> Any:
    first, *rest = frames
    for frame in rest:
        first = first.unionByName(frame)
    return first


def build_marts_spark(
    lake: str | os.PathLike, settings: Settings, master: str | None = None, remote: str | None = None
) -> dict:
    """Build a lake's marts on Spark and write them into it (``DIR/marts``); returns what was written.

    The data's moment, the conventions' key and the data version are asked of the lake through
    DuckDB, as the dashboard will ask them when it reads the marts, so both agree on which data
    and conventions the marts answer for.
    """
    started = time.monotonic()
    folder = Path(lake)
    con = open_lake(folder)
    try:
        settings = on_data_clock(con, settings)
        version = data_version(con)
    finally:
        con.close()
    engine = SparkEngine(spark_session(master, remote))
    try:
        engine.register_lake(folder)
        frames = mart_frames(engine, settings)

        def write_table(name: str, target: Path) -> int:
            frame = frames[name].cache()
            frame.write.mode("overwrite").parquet(str(target))
            return frame.count()

        meta = {
            "engine": "spark",
            "conventions_key": conventions_key(settings),
            "data_version": version,
            "built_as_of": settings.as_of.isoformat(),
            "metrics": [m.name for m in cube_metrics(settings) + histogram_metrics()] + ["backlog_age"],
        }
        written = write_marts(folder, write_table, meta)
    finally:
        if remote is None:
            engine.close()
        else:
            engine.session.stop()
    return {**written, "seconds": round(time.monotonic() - started, 1)}
