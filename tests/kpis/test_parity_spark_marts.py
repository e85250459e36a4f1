"""The marts built on Spark hold the rows DuckDB's build puts in the warehouse: the daily cube, the
duration histograms and the backlog ages, row for row (counts exact, sums within 1e-9).

Run under two conventions, the second in Shanghai business hours with Spark's session in New York.
"""

from __future__ import annotations

import json
import shutil

import polars as pl
import pytest

from cli.demo import build_demo
from metrics.kpis.cube import build_cube
from metrics.kpis.settings import load_settings, on_data_clock
from metrics.kpis.spark_marts import mart_frames
from pipelines.warehouse.lake import warehouse_mart_columns
from pipelines.warehouse.store import connect
from tests.conftest import export_to_lake, run_cli
from tests.kpis.spark_parity import TABLES, differences, require_spark

CONVENTIONS = {
    "calendar hours in UTC": ("", "UTC"),
    "business hours in Shanghai": (
        'hours = "business"\nbusiness_time_zone = "Asia/Shanghai"\nreport_time_zone = "Asia/Shanghai"\n'
        'fcr = "no_repeat"\n',
        "America/New_York",
    ),
}
# A mart row is one metric (a ratio: one of its two sides), day or week, dimension, segment (and bucket).
KEYS = {
    "kpi_cube": ("metric", "day", "dimension", "segment", "side"),
    "kpi_histogram": ("key", "week", "dimension", "segment", "bucket"),
    "kpi_backlog_ages": ("day", "dimension", "segment", "bucket"),
}


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    db = tmp_path_factory.mktemp("marts") / "w.duckdb"
    build_demo(db, seed=11, daily_tickets=6, log_crises=False)
    return db


def keyed(frame: pl.DataFrame, table: str) -> pl.DataFrame:
    if table != "kpi_cube":
        return frame
    return frame.with_columns(pl.col("numerator").is_null().cast(pl.String).alias("side"))


@pytest.mark.parametrize("conventions", list(CONVENTIONS))
def test_spark_builds_the_marts_duckdb_builds(spark, source, tmp_path, conventions):
    text, session_zone = CONVENTIONS[conventions]
    db = tmp_path / "w.duckdb"
    shutil.copy(source, db)
    path = tmp_path / "targets.toml"
    path.write_text("[conventions]\n" + text)
    con = connect(db)
    try:
        settings = on_data_clock(con, load_settings(path))
        build_cube(con, settings)
        spark.register_duckdb(con, TABLES)
        spark.session.conf.set("spark.sql.session.timeZone", session_zone)
        built = {name: pl.from_arrow(frame.toArrow()) for name, frame in mart_frames(spark, settings).items()}
        found = []
        for table, keys in KEYS.items():
            columns = [name for name, _ in warehouse_mart_columns()[table]]
            duck = keyed(con.sql(f"SELECT {', '.join(columns)} FROM {table}").pl(), table)
            found += differences(duck, keyed(built[table], table), table, keys)
            assert duck.height > 0, table
    finally:
        spark.session.conf.set("spark.sql.session.timeZone", "UTC")
        con.close()
    assert not found, "\n".join(found)


def test_kpis_on_spark_from_the_command_line_equal_duckdb_over_the_lake(source, tmp_path):
    """``kpis --engine spark --lake`` (its own Spark) gives what DuckDB computes over the same lake."""
    require_spark()
    lake = tmp_path / "lake"
    export_to_lake(source, lake)
    asked = ("kpis", "--lake", str(lake), "--grain", "month", "--by", "channel", "--json")
    on_duckdb = run_cli(*asked)
    on_spark = run_cli(*asked, "--engine", "spark", "--master", "local[2]", timeout=600)
    assert on_duckdb.returncode == 0 and on_spark.returncode == 0, on_spark.stderr
    duck, spark = (pl.DataFrame(json.loads(done.stdout), infer_schema_length=None) for done in (on_duckdb, on_spark))
    assert duck.height > 100 and duck.select("metric", "period_start", "segment", "status").equals(
        spark.select("metric", "period_start", "segment", "status")
    )
    assert not differences(duck.drop("status", "reason", "grain"), spark.drop("status", "reason", "grain"), "kpis",
                           ("metric", "period_start", "dimension", "segment"))  # fmt: skip
    refused = run_cli("kpis", "--engine", "spark", "--db", str(source))
    assert refused.returncode != 0 and refused.stderr.strip().count("\n") == 0 and "--lake" in refused.stderr
