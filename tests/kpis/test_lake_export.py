"""A lake exported from the warehouse gives the KPIs the warehouse gives, and the export is safe to run.

Real DuckDB files and real Parquet files: the demo warehouse (shared, read only) for every metric
of the catalog, and a small one loaded from CSV files (with order counts) for the command line.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import duckdb
import polars as pl
import pytest

from metrics.kpis.catalog import catalog
from metrics.kpis.compute import Query, compute
from metrics.kpis.cube import cube_state, histogram_metrics
from metrics.kpis.settings import load_settings, on_data_clock
from pipelines.common.errors import IngestError
from pipelines.ingest import ingest_file
from pipelines.warehouse.lake import LAKE_TABLES, MANIFEST, export_lake, open_lake
from pipelines.warehouse.store import connect, schema_version, warehouse_as_of
from tests.conftest import export_to_lake, run_cli, write
from tests.kpis.test_metrics import COMPLAINTS, SURVEYS, TICKETS

KEYS = ["metric", "grain", "dimension", "segment", "period_start", "period_end"]
EXACT = ["n", "target", "target_bound", "status", "complete", "reason"]
VALUES = ["value", "numerator", "denominator", "ci_low", "ci_high"]
# Answered by the cube's weekly histograms (medians, p90s, backlog ages): within 2% of the exact
# order statistic by design (metrics/kpis/cube.py), so only the raw answers are the same to 1e-9.
HISTOGRAM_ANSWERED = {m.name for m in histogram_metrics()} | {"backlog_age"}


@pytest.fixture(scope="module")
def demo_lake(demo, tmp_path_factory):
    """The demo warehouse exported once for this module: (warehouse path, lake folder, manifest)."""
    folder = tmp_path_factory.mktemp("lake") / "demo-lake"
    return demo[0], folder, export_to_lake(demo[0], folder)


@pytest.fixture(scope="module")
def demo_cons(demo_lake):
    db, folder, _ = demo_lake
    warehouse, lake = connect(db, read_only=True), open_lake(folder)
    yield warehouse, lake
    warehouse.close()
    lake.close()


def assert_same(got: pl.DataFrame, expected: pl.DataFrame, tolerance: float = 1e-9) -> None:
    """Same records (keys, n, status exact), each value within ``tolerance`` of the expected, relatively."""
    got, expected = got.sort(KEYS), expected.sort(KEYS)
    assert got.height == expected.height > 0
    assert got.select(KEYS + EXACT).equals(expected.select(KEYS + EXACT))
    for column in VALUES:
        a, b = got[column], expected[column]
        assert (a.is_null() == b.is_null()).all(), column
        off = ((a - b).abs() / b.abs().clip(lower_bound=1.0)).drop_nulls()
        assert off.max() is None or off.max() <= tolerance, (column, off.max())


@pytest.mark.parametrize("grain", ["week", "month"])
@pytest.mark.parametrize("dimension", [None, "channel"])
def test_every_metric_over_the_lake_is_the_warehouse_s(demo_cons, grain, dimension):
    warehouse, lake = demo_cons
    settings = load_settings()
    query = Query(tuple(catalog()), grain, dimension)
    over_lake = compute(lake, query, settings)
    raw = compute(warehouse, query, settings, use_cube=False)
    # Every metric has records, but CES: the demo asks no CES survey.
    assert set(over_lake["metric"]) == set(raw["metric"]) == set(catalog()) - {"ces"}
    assert_same(over_lake, raw)
    # The warehouse's default answer reads its cube: the same numbers, the histograms' within their 2%.
    assert cube_state(warehouse, on_data_clock(warehouse, settings)) is not None
    cubed = compute(warehouse, query, settings)
    exact = pl.col("metric").is_in(list(HISTOGRAM_ANSWERED)).not_()
    assert_same(over_lake.filter(exact), cubed.filter(exact))
    assert_same(over_lake.filter(~exact), cubed.filter(~exact), tolerance=0.02)


def test_the_lake_has_no_cube_and_the_warehouse_s_clock(demo_cons, demo_lake):
    warehouse, lake = demo_cons
    assert cube_state(lake, on_data_clock(lake, load_settings())) is None  # computed from the raw tables
    assert warehouse_as_of(lake) == warehouse_as_of(warehouse)
    assert demo_lake[2]["as_of"] == warehouse_as_of(warehouse).isoformat()
    assert schema_version(lake) == schema_version(warehouse) == demo_lake[2]["schema_version"]


def test_the_manifest_counts_the_warehouse_s_rows_in_month_folders(demo_cons, demo_lake):
    warehouse, lake = demo_cons
    _, folder, manifest = demo_lake
    assert json.loads((folder / MANIFEST).read_text()) == manifest
    assert set(manifest["tables"]) == set(LAKE_TABLES)
    for name, table in manifest["tables"].items():
        rows = warehouse.sql(f"SELECT count(*) FROM {name}").fetchall()[0][0]
        assert table["rows"] == rows == lake.sql(f"SELECT count(*) FROM {name}").fetchall()[0][0], name
        described = warehouse.sql(f"DESCRIBE {name}").fetchall()
        assert [(c["name"], c["type"]) for c in table["columns"]] == [(c[0], c[1]) for c in described]
        assert [(c[0], c[1]) for c in lake.sql(f"DESCRIBE {name}").fetchall()] == [(c[0], c[1]) for c in described]
        assert sum(f["rows"] for f in table["files"]) == rows
        assert all((folder / f["path"]).stat().st_size == f["bytes"] for f in table["files"])
    tickets = manifest["tables"]["tickets"]
    assert tickets["time_column"] == "created_at" and manifest["tables"]["batches"]["partitions"] == []
    months = warehouse.sql(
        "SELECT DISTINCT 'month=' || strftime(timezone('UTC', created_at), '%Y-%m') FROM tickets ORDER BY 1"
    ).fetchall()
    assert tickets["partitions"] == [m[0] for m in months]
    on_disk = sorted(p.name for p in (folder / "tickets").iterdir())
    assert on_disk == tickets["partitions"]
    # Each month folder holds that month's tickets (UTC), and the files keep their moments in UTC.
    first = tickets["partitions"][0].removeprefix("month=")
    month = "strftime(timezone('UTC', created_at), '%Y-%m')"
    in_folder = duckdb.sql(
        f"SELECT count(*), min({month}), max({month}) FROM read_parquet('{folder}/tickets/month={first}/*.parquet')"
    ).fetchall()[0]
    assert in_folder[0] > 0 and in_folder[1:] == (first, first)
    kinds = duckdb.sql(
        f"SELECT name, logical_type FROM parquet_schema('{folder}/{tickets['files'][0]['path']}')"
    ).fetchall()
    assert "isAdjustedToUTC=1" in str(dict(kinds)["created_at"])


def test_a_second_export_needs_replace_and_the_warehouse_is_untouched(demo, tmp_path):
    db = tmp_path / "copy.duckdb"
    shutil.copy2(demo[0], db)
    before = (db.read_bytes(), db.stat().st_mtime_ns)
    folder = tmp_path / "lake"
    first = run_cli("lake", "export", "--db", str(db), "--to", str(folder))
    assert first.returncode == 0, first.stderr
    assert first.stdout.strip().splitlines() == [
        f"lake written to {folder}: 5 tables, 310,195 rows "
        "(tickets 231,332, survey_responses 70,009, complaints 8,851, order_counts 0, batches 3)"
    ]
    again = run_cli("lake", "export", "--db", str(db), "--to", str(folder))
    assert again.returncode != 0
    assert again.stderr.strip().splitlines() == [
        f"csat-radar: {folder}: already holds a lake; pass --replace to write a new one over it"
    ]
    created = json.loads((folder / MANIFEST).read_text())["created_at"]
    replaced = run_cli("lake", "export", "--db", str(db), "--to", str(folder), "--replace")
    assert replaced.returncode == 0, replaced.stderr
    assert json.loads((folder / MANIFEST).read_text())["created_at"] != created
    assert sorted(p.name for p in tmp_path.iterdir()) == ["copy.duckdb", "lake"]  # no staging left beside it
    assert (db.read_bytes(), db.stat().st_mtime_ns) == before


def test_a_folder_that_is_not_a_lake_is_never_written_over(demo, tmp_path):
    (tmp_path / "notes").mkdir()
    write(tmp_path / "notes" / "keep.txt", "mine")
    con = connect(demo[0], read_only=True)
    try:
        with pytest.raises(IngestError, match="is not empty and holds no lake"):
            export_lake(con, tmp_path / "notes", replace=True)
        (tmp_path / "empty").mkdir()
        assert export_lake(con, tmp_path / "empty")["tables"]["batches"]["rows"] == 3
    finally:
        con.close()
    assert (tmp_path / "notes" / "keep.txt").read_text() == "mine"


def test_a_failed_export_leaves_no_half_lake(demo, tmp_path):
    killed = tmp_path / f".lake.exporting-{2**22 + 1}"  # left by an export whose process is gone (no pid is this high)
    (killed / "tickets").mkdir(parents=True)
    con = connect(demo[0], read_only=True)
    try:
        export_lake(con, tmp_path / "lake")
        assert not killed.exists()
        kept = json.loads((tmp_path / "lake" / MANIFEST).read_text())
        con.execute("CREATE TEMP VIEW batches AS SELECT error('disk gone') AS batch_id")  # the last table fails
        with pytest.raises(duckdb.Error, match="disk gone"):
            export_lake(con, tmp_path / "lake", replace=True)
    finally:
        con.close()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["lake"]
    assert json.loads((tmp_path / "lake" / MANIFEST).read_text()) == kept


def from_a_newer_csat_radar(lake: Path) -> None:
    manifest = json.loads((lake / MANIFEST).read_text())
    (lake / MANIFEST).write_text(json.dumps({**manifest, "schema_version": 999}))


def a_statement_for_a_type(lake: Path) -> None:
    manifest = json.loads((lake / MANIFEST).read_text())
    manifest["tables"]["batches"]["columns"][0]["type"] = "BIGINT) AS x FROM range(1); COPY (SELECT 1"
    (lake / MANIFEST).write_text(json.dumps(manifest))


def truncate_a_file(lake: Path) -> None:
    cut = lake / "complaints" / "month=2024-11" / "data_0.parquet"
    cut.write_bytes(cut.read_bytes()[:1000])


@pytest.mark.parametrize(
    "damage,problem",
    [
        (lambda lake: (lake / MANIFEST).unlink(), "not a lake: no manifest.json"),
        (lambda lake: (lake / MANIFEST).write_text("{not json"), "manifest.json cannot be read"),
        (lambda lake: shutil.rmtree(lake / "tickets"), "table tickets: file tickets/month="),
        (from_a_newer_csat_radar, "schema version 999 is newer than this CSAT Radar understands"),
        (a_statement_for_a_type, "manifest.json cannot be read as a lake (batches has a column of type 'BIGINT) AS x"),
        (
            truncate_a_file,
            "table complaints: file complaints/month=2024-11/data_0.parquet is 1,000 bytes, the manifest",
        ),
    ],
)
def test_a_broken_lake_is_one_line_naming_it(demo, tmp_path, damage, problem):
    export_to_lake(demo[0], tmp_path / "lake")
    damage(tmp_path / "lake")
    with pytest.raises(IngestError) as caught:
        open_lake(tmp_path / "lake")
    assert str(caught.value).startswith(f"{(tmp_path / 'lake').absolute()}: {problem}")
    assert len(str(caught.value).splitlines()) == 1


@pytest.fixture
def small(con, db_path, tmp_path):
    """A warehouse below the cube's size, with order counts and a CES answer: every answer is read raw, and
    every metric of the catalog has a record."""
    ingest_file(con, write(tmp_path / "t.csv", TICKETS), "tickets", source_tz="UTC")
    ingest_file(con, write(tmp_path / "c.csv", COMPLAINTS), "complaints", source_tz="UTC")
    ingest_file(
        con, write(tmp_path / "s.csv", SURVEYS), "surveys", source_tz="UTC", mapping={"responded_at": "responded at"}
    )
    effort = "response id,ticket id,responded at,survey type,score,scale\nE1,T4,2026-03-06 11:00,ces,6,1-7\n"
    ingest_file(con, write(tmp_path / "e.csv", effort), "surveys", source_tz="UTC")
    orders = "date,channel,orders\n2026-02-27,email,30\n2026-03-01,email,5\n2026-03-03,email,10\n2026-03-03,web,10\n"
    ingest_file(con, write(tmp_path / "o.csv", orders), "orders", source_tz="UTC")
    con.close()
    targets = write(tmp_path / "targets.toml", '[conventions]\nmin_sample = 3\ncomplaint_rate_denominator = "orders"\n')
    return db_path, targets


def records(result) -> list[dict]:
    assert result.returncode == 0, result.stderr
    return sorted(json.loads(result.stdout), key=lambda r: (r["metric"], r["segment"], r["period_start"]))


@pytest.mark.parametrize("by", [[], ["--by", "channel"]])
def test_kpis_over_the_lake_on_the_command_line_are_the_warehouse_s(small, tmp_path, by):
    db, targets = small
    folder = tmp_path / "lake"
    # Exported and read in New York, where the orders of 2026-03-01 00:00 UTC are of February 28th:
    # the months and the numbers are UTC's all the same.
    new_york = {"TZ": "America/New_York"}
    assert run_cli("lake", "export", "--db", str(db), "--to", str(folder), env=new_york).returncode == 0
    manifest = json.loads((folder / MANIFEST).read_text())
    assert manifest["tables"]["order_counts"]["partitions"] == ["month=2026-02", "month=2026-03"]
    march = duckdb.sql(f"SELECT count(*) FROM read_parquet('{folder}/order_counts/month=2026-03/*.parquet')")
    assert march.fetchall() == [(3,)]
    common = ("kpis", "--json", "--targets", str(targets), *by)
    over_lake = records(run_cli(*common, "--lake", str(folder), env=new_york))
    in_warehouse = records(run_cli(*common, "--db", str(db)))
    assert {r["metric"] for r in over_lake} == set(catalog())
    assert len(over_lake) == len(in_warehouse)
    for got, expected in zip(over_lake, in_warehouse, strict=True):
        assert got.keys() == expected.keys()
        for key, value in expected.items():
            if isinstance(value, float):
                assert got[key] == pytest.approx(value, rel=1e-9, abs=1e-12), (key, expected)
            else:
                assert got[key] == value, (key, expected)
    rates = {(r["segment"], r["period_start"]): r["denominator"] for r in over_lake if r["metric"] == "complaint_rate"}
    # The orders of the week of 2026-03-02, not its tickets.
    segment, orders = ("email", 10) if by else ("all", 20)
    assert rates[(segment, "2026-03-02")] == orders


def test_kpis_over_a_folder_without_manifest_is_one_line(tmp_path):
    result = run_cli("kpis", "--lake", str(tmp_path))
    assert result.returncode != 0
    assert result.stderr.strip().splitlines() == [
        f"csat-radar: {Path(tmp_path).absolute()}: not a lake: no manifest.json (make one with: csat-radar lake export)"
    ]
    assert "Traceback" not in result.stderr and result.stdout == ""
    both = run_cli("kpis", "--lake", str(tmp_path), "--db", str(tmp_path / "w.duckdb"))
    assert both.returncode != 0 and both.stderr.strip() == "csat-radar: --lake: give --lake or --db, not both"
