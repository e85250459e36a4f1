"""The lake's marts: built by DuckDB into ``DIR/marts``, read back as the warehouse's cube, swapped in whole.

A small demo warehouse is exported to a lake; its marts built by ``build_marts_duckdb`` must be
the warehouse's own cube, histograms and backlog ages, row for row, and the KPIs read from them
the warehouse's numbers. Marts of an earlier export, or none, leave the raw files to answer.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import polars as pl
import pytest

from cli.demo import build_demo
from metrics.kpis.compute import Query, all_metric_names, compute
from metrics.kpis.cube import cube_state
from metrics.kpis.lake_marts import build_marts_duckdb
from metrics.kpis.settings import load_settings, settings_for
from pipelines.common.errors import IngestError
from pipelines.warehouse.lake import (
    MANIFEST,
    marts_status,
    open_lake,
    read_manifest,
    warehouse_mart_columns,
    write_marts,
)
from pipelines.warehouse.lake_files import MART_TABLES
from pipelines.warehouse.store import connect
from tests.conftest import export_to_lake, run_cli
from tests.kpis.spark_parity import require_spark

KEYS = {
    "kpi_cube": ["metric", "day", "dimension", "segment"],
    "kpi_histogram": ["key", "week", "dimension", "segment", "bucket"],
    "kpi_backlog_ages": ["day", "dimension", "segment", "bucket"],
}


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> tuple[Path, Path, dict]:
    """A demo warehouse, its lake, and the lake's marts built by DuckDB."""
    folder = tmp_path_factory.mktemp("lake_marts")
    db = folder / "warehouse.duckdb"
    build_demo(db, seed=5, daily_tickets=6, log_crises=False)
    export_to_lake(db, folder / "lake")
    return db, folder / "lake", build_marts_duckdb(folder / "lake")


def frame(con, table: str) -> pl.DataFrame:
    return con.sql(f"SELECT * FROM {table}").pl().sort(KEYS[table], nulls_last=True)


def test_the_marts_are_the_warehouse_cube_row_for_row_with_its_types(built):
    db, lake, manifest = built
    warehouse, over_lake = connect(db, read_only=True), open_lake(lake)
    try:
        for table in MART_TABLES:
            assert manifest["tables"][table]["rows"] == warehouse.sql(f"SELECT count(*) FROM {table}").fetchall()[0][0]
            described = [[r[:2] for r in c.sql(f"DESCRIBE {table}").fetchall()] for c in (over_lake, warehouse)]
            assert described[0] == described[1], table
            assert frame(over_lake, table).equals(frame(warehouse, table), null_equal=True), table
        meta = warehouse.sql("SELECT conventions_key, data_version, built_as_of, metrics FROM kpi_cube_meta").fetchall()
        key, version, as_of, names = meta[0]
        assert (manifest["conventions_key"], manifest["data_version"]) == (key, version)
        assert manifest["built_as_of"] == as_of.isoformat() and manifest["metrics"] == names.split(",")
        assert manifest["engine"] == "duckdb" and manifest["format"] == "csat-radar-marts" and manifest["version"] == 1
        assert manifest["lake_created_at"] == read_manifest(lake)["created_at"]
    finally:
        warehouse.close()
        over_lake.close()


def test_kpis_over_the_lake_read_its_marts_and_equal_the_warehouse(built):
    db, lake, _ = built
    warehouse, over_lake = connect(db, read_only=True), open_lake(lake)
    try:
        settings = settings_for(over_lake, None)
        assert cube_state(over_lake, settings) == cube_state(warehouse, settings_for(warehouse, None)) is not None
        assert marts_status(lake) is None
        for grain, by in (("week", None), ("month", "channel"), ("quarter", "team")):
            query = Query(all_metric_names(), grain, by)
            on_lake = compute(over_lake, query, settings)
            on_warehouse = compute(warehouse, query, settings_for(warehouse, None))
            assert on_lake.height > 0
            assert on_lake.equals(on_warehouse, null_equal=True), (grain, by)
    finally:
        warehouse.close()
        over_lake.close()


def copy_lake(lake: Path, to: Path) -> Path:
    shutil.copytree(lake, to)
    return to


def test_marts_written_with_other_types_are_read_as_the_warehouse_types(built, tmp_path):
    """Spark writes INT and LONG, TIMESTAMP for a date: a reader casts every mart to the migrations' types."""
    _, lake, manifest = built
    lake = copy_lake(lake, tmp_path / "lake")
    source = open_lake(lake)
    try:

        def loosely_typed(name: str, folder: Path) -> int:
            folder.mkdir()
            columns = ", ".join(
                f"{column}::{'VARCHAR' if kind in ('INTEGER', 'BIGINT', 'DOUBLE') else kind} AS {column}"
                for column, kind in warehouse_mart_columns()[name]
            )
            source.execute(f"COPY (SELECT {columns} FROM {name}) TO '{folder / 'part-0.parquet'}'")
            return manifest["tables"][name]["rows"]

        write_marts(lake, loosely_typed, {**manifest, "engine": "spark"})
        expected = {name: frame(source, name) for name in MART_TABLES}
    finally:
        source.close()
    reread = open_lake(lake)
    try:
        for name in MART_TABLES:
            assert [tuple(r[:2]) for r in reread.sql(f"DESCRIBE {name}").fetchall()] == warehouse_mart_columns()[name]
            assert frame(reread, name).equals(expected[name], null_equal=True)
    finally:
        reread.close()


def test_marts_of_an_earlier_export_or_none_leave_the_raw_files_to_answer(built, tmp_path):
    db, lake, _ = built
    fresh = tmp_path / "lake"
    export_to_lake(db, fresh)
    assert "no marts in" in marts_status(fresh)
    shutil.copytree(lake / "marts", fresh / "marts")  # marts of the earlier export of the same warehouse
    assert "built from an earlier export of the lake" in marts_status(fresh)
    over_lake = open_lake(fresh)
    try:
        settings = settings_for(over_lake, None)
        assert cube_state(over_lake, settings) is None
        raw = compute(over_lake, Query(("csat", "ticket_volume"), "month"), settings)
        assert raw.height > 0
    finally:
        over_lake.close()


def test_marts_missing_a_column_are_said_and_the_raw_files_answer(built, tmp_path):
    _, lake, manifest = built
    lake = copy_lake(lake, tmp_path / "lake")
    source = open_lake(lake)
    try:

        def without_opened(name: str, folder: Path) -> int:
            folder.mkdir()
            dropped = " EXCLUDE (opened)" if name == "kpi_cube" else ""
            source.execute(f"COPY (SELECT *{dropped} FROM {name}) TO '{folder / 'part-0.parquet'}'")
            return manifest["tables"][name]["rows"]

        write_marts(lake, without_opened, manifest)
    finally:
        source.close()
    assert "cannot be read" in marts_status(lake) and "opened" in marts_status(lake)
    over_lake = open_lake(lake)
    try:
        assert cube_state(over_lake, settings_for(over_lake, None)) is None
        assert compute(over_lake, Query(("backlog",), "month"), settings_for(over_lake, None)).height > 0
    finally:
        over_lake.close()


def test_a_failed_build_leaves_the_marts_there_were(built, tmp_path):
    _, lake, manifest = built
    lake = copy_lake(lake, tmp_path / "lake")
    before = (lake / "marts" / MANIFEST).read_text()

    def fails_midway(name: str, folder: Path) -> int:
        folder.mkdir()
        (folder / "part-0.parquet").write_bytes(b"half")
        if name == MART_TABLES[1]:
            raise RuntimeError("executor lost")
        return 1

    with pytest.raises(RuntimeError, match="executor lost"):
        write_marts(lake, fails_midway, manifest)
    assert (lake / "marts" / MANIFEST).read_text() == before
    assert sorted(p.name for p in lake.iterdir() if p.name.startswith(".")) == []  # no staging folder left
    assert marts_status(lake) is None


def test_no_marts_for_a_directory_without_a_lake(tmp_path):
    with pytest.raises(IngestError, match="not a lake: no manifest.json"):
        write_marts(tmp_path, lambda name, folder: 0, {})
    assert list(tmp_path.iterdir()) == []
    done = run_cli("marts", "build", "--lake", str(tmp_path / "nowhere"), "--engine", "duckdb")
    assert done.returncode == 2
    assert done.stderr.strip().count("\n") == 0 and "no such directory" in done.stderr


def test_marts_build_on_duckdb_says_engine_rows_and_seconds(built, tmp_path):
    _, lake, manifest = built
    lake = copy_lake(lake, tmp_path / "lake")
    shutil.rmtree(lake / "marts")
    done = run_cli("marts", "build", "--lake", str(lake), "--engine", "duckdb")
    assert done.returncode == 0, done.stderr
    line = done.stdout.strip()
    assert line.count("\n") == 0 and "built by duckdb in " in line and " s: " in line
    for name in MART_TABLES:
        assert f"{name} {manifest['tables'][name]['rows']:,}" in line
    rebuilt = json.loads((lake / "marts" / MANIFEST).read_text())
    assert rebuilt["tables"] == manifest["tables"] and rebuilt["conventions_key"] == manifest["conventions_key"]
    refused = run_cli("marts", "build", "--lake", str(lake), "--engine", "duckdb", "--master", "local[2]")
    assert refused.returncode == 2 and refused.stderr.startswith("csat-radar: --master/--remote")


def test_marts_build_on_spark_gives_the_same_marts(built, tmp_path):
    require_spark()
    _, lake, manifest = built
    lake = copy_lake(lake, tmp_path / "lake")
    done = run_cli("marts", "build", "--lake", str(lake), "--engine", "spark", timeout=900)
    assert done.returncode == 0, done.stderr
    assert "built by spark" in done.stdout
    rebuilt = json.loads((lake / "marts" / MANIFEST).read_text())
    assert rebuilt["engine"] == "spark" and rebuilt["tables"] == manifest["tables"]
    assert marts_status(lake) is None


def test_settings_of_the_marts_are_the_app_defaults(built):
    """Marts built without --targets answer for the conventions the app and the commands use by default."""
    _, lake, _ = built
    over_lake = open_lake(lake)
    try:
        assert cube_state(over_lake, settings_for(over_lake, None)) is not None
        assert cube_state(over_lake, load_settings()) is not None
    finally:
        over_lake.close()
