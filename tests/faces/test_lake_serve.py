"""The dashboard, the radar and the report on a lake (``--lake DIR``): the same numbers as on its warehouse.

A demo warehouse is exported to a lake whose marts are built; the lake's sidecar (the file the
app and the radar write their own state to, with the lake's tables and marts as views) must
give the Overview's numbers, the radar's crises and the report of the warehouse itself.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest

from cli.demo import build_demo
from metrics.kpis.cube import cube_state
from metrics.kpis.lake_marts import build_marts_duckdb
from metrics.kpis.marts import load_export
from metrics.kpis.scope import View
from metrics.kpis.settings import load_settings
from metrics.views import dashboard
from pipelines.common.errors import IngestError
from pipelines.warehouse.lake import export_lake, open_sidecar
from pipelines.warehouse.lake_files import LAKE_ENV, lake_signature
from pipelines.warehouse.store import connect, connect_for_reading
from tests.conftest import ROOT, export_to_lake, run_cli, write
from tests.faces.test_app import open_page, tiles
from tests.faces.test_browser import free_port
from tests.faces.test_serve import stop
from tests.kpis.spark_parity import require_spark


# The engines that build a lake's marts; each must give the warehouse's Overview.
def build_marts_on_spark(lake: Path) -> dict:
    require_spark()
    from metrics.kpis.spark_marts import build_marts_spark

    return build_marts_spark(lake, load_settings(), master="local[2]")


MART_BUILDERS: dict[str, Callable[[Path], dict]] = {"duckdb": build_marts_duckdb, "spark": build_marts_on_spark}


@pytest.fixture(scope="module")
def exported(tmp_path_factory) -> tuple[Path, Path]:
    """A demo warehouse (large enough for the radar to find crises) and its lake, without marts."""
    folder = tmp_path_factory.mktemp("lake_serve")
    db = folder / "warehouse.duckdb"
    build_demo(db, seed=5, daily_tickets=30, log_crises=False)
    export_to_lake(db, folder / "lake")
    return db, folder / "lake"


@pytest.fixture(scope="module")
def with_marts(exported, tmp_path_factory) -> tuple[Path, Path]:
    """The warehouse, and a copy of its lake with marts built by DuckDB."""
    db, lake = exported
    built = shutil.copytree(lake, tmp_path_factory.mktemp("lake_with_marts") / "lake")
    build_marts_duckdb(built)
    return db, built


def overview_numbers(con) -> dict:
    """What the Overview page shows as numbers: each KPI tile (as ``dashboard.headline_tiles`` gives it to the page)
    and the paragraph of what changed, asked as the page asks them (``pages/_frame/questions.ask``)."""
    settings, view = load_settings(), View()
    tiles = dashboard.headline_tiles(con, settings, view)
    return {
        "tiles": [
            {
                **{k: getattr(t, k) for k in ("metric", "period_start", "value", "value_text", "interval_text")},
                **{k: getattr(t, k) for k in ("target_text", "status", "change_text", "change_significant")},
                "sparkline": t.sparkline.sort("period_start").rows(),
            }
            for t in tiles
        ],
        "latest": dashboard.latest_complete_period(con, settings, view),
        "what_changed": dashboard.what_changed(con, settings, view).text,
    }


@pytest.mark.parametrize("engine", sorted(MART_BUILDERS))
def test_the_overview_on_a_lake_with_marts_is_the_warehouse_overview(exported, tmp_path, engine):
    db, lake = exported
    lake = shutil.copytree(lake, tmp_path / "lake")
    MART_BUILDERS[engine](lake)
    open_sidecar(lake, tmp_path / "state.duckdb").close()
    on_lake = connect_for_reading(tmp_path / "state.duckdb")  # as every page opens its warehouse
    warehouse = connect(db, read_only=True)
    try:
        assert cube_state(on_lake, load_settings()) is not None, "the Overview must read the marts"
        expected = overview_numbers(warehouse)
        assert [t["value"] for t in expected["tiles"]] and all(t["value"] is not None for t in expected["tiles"])
        assert overview_numbers(on_lake) == expected
    finally:
        on_lake.close()
        warehouse.close()


def test_the_overview_page_on_a_lake_shows_the_warehouse_tiles(with_marts, tmp_path, monkeypatch):
    """The page itself (Streamlit's AppTest), as ``serve --lake`` runs it: on the sidecar, the lake named."""
    db, lake = with_marts
    state = tmp_path / "state.duckdb"
    open_sidecar(lake, state).close()
    shown = {}
    for name, where, lake_env in (("warehouse", db, None), ("lake", state, str(lake))):
        monkeypatch.setenv("CSAT_RADAR_DB", str(where))
        if lake_env:
            monkeypatch.setenv(LAKE_ENV, lake_env)
        shown[name] = tiles(open_page("overview"))
    assert shown["lake"] == shown["warehouse"] and len(shown["lake"]) >= 4


def test_serve_on_a_lake_starts_and_answers(with_marts, tmp_path):
    _, lake = with_marts
    port, log = free_port(), tmp_path / "serve.log"
    with log.open("w") as out:
        server = subprocess.Popen(
            [sys.executable, "-m", "cli.main", "serve", "--lake", str(lake), "--db", str(tmp_path / "state.duckdb"),
             "--port", str(port), "--address", "127.0.0.1"],
            cwd=ROOT, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        deadline, answered = time.monotonic() + 90, None
        while time.monotonic() < deadline and server.poll() is None and answered is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2) as health:
                    answered = health.status
            except OSError:
                time.sleep(0.3)
        assert answered == 200, f"serve --lake did not answer (exit code {server.poll()}): {log.read_text()}"
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10) as page:
            assert page.status == 200
        assert f"lake {lake}" in log.read_text()
    finally:
        stop(server)
    assert server.poll() is not None


def test_crises_on_a_lake_are_the_warehouse_crises(with_marts, tmp_path):
    db, lake = with_marts
    warehouse = shutil.copy(db, tmp_path / "warehouse.duckdb")  # the scan writes its crisis log
    on_lake = run_cli("crises", "--lake", str(lake), "--db", str(tmp_path / "state.duckdb"), "--json",
                      "--since", "2024-01-01")  # fmt: skip
    on_warehouse = run_cli("crises", "--db", str(warehouse), "--json", "--since", "2024-01-01")
    assert on_lake.returncode == on_warehouse.returncode == 0, on_lake.stderr
    assert on_lake.stdout.count('"id"') > 0, "the demo's injected crises are found"
    assert on_lake.stdout == on_warehouse.stdout


def test_the_report_on_a_lake_is_the_warehouse_report(with_marts, tmp_path):
    db, lake = with_marts
    on_lake = run_cli("report", "--lake", str(lake), "--db", str(tmp_path / "state.duckdb"),
                      "--out", str(tmp_path / "lake.html"))  # fmt: skip
    on_warehouse = run_cli("report", "--db", str(db), "--out", str(tmp_path / "warehouse.html"))
    assert on_lake.returncode == on_warehouse.returncode == 0, on_lake.stderr
    assert on_lake.stdout.splitlines()[-1].split(":")[-1] == on_warehouse.stdout.splitlines()[-1].split(":")[-1]
    assert (tmp_path / "lake.html").read_bytes() == (tmp_path / "warehouse.html").read_bytes()


def test_nothing_loads_into_a_lake(with_marts, tmp_path):
    db, lake = with_marts
    state = tmp_path / "state.duckdb"
    open_sidecar(lake, state).close()
    refusal = f"csat-radar: {lake} is a lake: load into the warehouse and export it again"
    csv = write(tmp_path / "tickets.csv", "ticket_id,created_at\nT1,2026-01-01 10:00\n")
    for command in (
        ["ingest", "--db", str(state), "--kind", "tickets", str(csv)],
        ["undo", "--db", str(state), "1"],
        ["demo", "--db", str(state), "--force"],
    ):
        done = run_cli(*command)
        assert (done.returncode, done.stderr.strip()) == (2, refusal), command
    con = connect(state)  # the Upload page's way in
    try:
        with pytest.raises(IngestError, match="is a lake: load into the warehouse"):
            load_export(con, csv, "tickets")
    finally:
        con.close()
    with pytest.raises(IngestError, match="holds a warehouse's own data"):
        open_sidecar(lake, shutil.copy(db, tmp_path / "copy.duckdb"))
    other = shutil.copytree(lake, tmp_path / "other")
    with pytest.raises(IngestError, match=f"keeps the state of the lake {lake}"):
        open_sidecar(other, state)


def test_a_sidecar_sees_a_new_export_and_rebuilt_marts(exported, tmp_path):
    db, lake = exported
    lake = shutil.copytree(lake, tmp_path / "lake")
    build_marts_duckdb(lake)
    state = tmp_path / "state.duckdb"
    open_sidecar(lake, state).close()
    seen = lake_signature(lake)  # what the app's answers are keyed on, beside the sidecar's own files
    warehouse = connect(db, read_only=True)
    try:
        export_lake(warehouse, lake, replace=True)  # a new export: no marts yet
    finally:
        warehouse.close()
    assert lake_signature(lake) != seen
    con = connect_for_reading(state)
    try:
        assert cube_state(con, load_settings()) is None  # the raw files answer
        assert con.sql("SELECT count(*) FROM tickets").fetchall()[0][0] > 0
    finally:
        con.close()
    build_marts_duckdb(lake)
    con = connect_for_reading(state)
    try:
        assert cube_state(con, load_settings()) is not None
    finally:
        con.close()
