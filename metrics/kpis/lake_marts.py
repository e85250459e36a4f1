"""The lake's marts built by DuckDB: the reference engine, and what a single machine uses.

``build_marts_duckdb`` runs the warehouse's own cube build (``metrics.kpis.cube.build_cube``)
on DuckDB over the lake's raw files and writes the marts back into the lake as Parquet
(``pipelines.warehouse.lake.write_marts``), where ``open_lake`` and a lake's sidecar read them.
The Spark engine (``metrics.kpis.spark_marts``) writes the same marts through the same helper.
"""

from __future__ import annotations

import os
from pathlib import Path

import duckdb

from metrics.kpis.cube import build_cube
from metrics.kpis.settings import Settings, on_data_clock
from pipelines.warehouse.lake import open_lake, warehouse_mart_columns, write_marts
from pipelines.warehouse.lake_files import MART_TABLES, META_TABLE, identifier, quoted


def marts_meta(con: duckdb.DuckDBPyConnection, engine: str) -> dict:
    """What the marts' manifest says they answer for: the one row ``build_cube`` wrote to ``kpi_cube_meta``."""
    key, version, built_as_of, names = con.sql(
        f"SELECT conventions_key, data_version, built_as_of, metrics FROM {META_TABLE}"
    ).fetchall()[0]
    return {
        "engine": engine,
        "conventions_key": key,
        "data_version": version,
        "built_as_of": built_as_of.isoformat(),
        "metrics": names.split(",") if names else [],
    }


def _create_mart_tables(con: duckdb.DuckDBPyConnection) -> None:
    """Empty tables for the cube build, with the warehouse's columns (from its migrations, as every reader casts)."""
    kinds = warehouse_mart_columns()
    for name in (*MART_TABLES, META_TABLE):
        columns = ", ".join(f"{identifier(c)} {kind}" for c, kind in kinds[name])
        con.execute(f"CREATE TABLE {identifier(name)} ({columns})")


def build_marts_duckdb(lake_dir: str | os.PathLike, settings: Settings | None = None) -> dict:
    """Build the lake's KPI cube, duration histograms and backlog ages with DuckDB; returns the marts' manifest."""
    con = open_lake(lake_dir, marts=False)  # the marts there are (if any) are what is being replaced
    try:
        _create_mart_tables(con)
        settings = on_data_clock(con, settings)
        build_cube(con, settings)

        def write_table(name: str, folder: Path) -> int:
            folder.mkdir(parents=True)
            target = quoted((folder / "data.parquet").as_posix())
            con.execute(f"COPY (SELECT * FROM {identifier(name)}) TO {target} (FORMAT parquet, COMPRESSION zstd)")
            return con.sql(f"SELECT count(*) FROM {identifier(name)}").fetchall()[0][0]

        return write_marts(lake_dir, write_table, marts_meta(con, "duckdb"))
    finally:
        con.close()
