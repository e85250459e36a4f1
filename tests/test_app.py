"""Streamlit pages opened with AppTest on a fixture warehouse: the numbers shown, not just no exception."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from pipelines.ingest import ingest_file
from pipelines.warehouse import connect
from tests.conftest import FIXTURES, ROOT

PAGES = sorted(p.name for p in (ROOT / "pages").glob("*.py") if not p.name.startswith("_"))


@pytest.fixture
def fixture_warehouse(tmp_path, monkeypatch) -> Path:
    db = tmp_path / "app.duckdb"
    con = connect(db)
    ingest_file(con, FIXTURES / "profiles" / "generic.csv", "tickets", source_tz="UTC")
    ingest_file(con, FIXTURES / "profiles" / "chatwoot.csv", "surveys", source_tz="UTC")
    ingest_file(con, FIXTURES / "profiles" / "comcast_fcc.csv", "complaints", source_tz="UTC")
    con.close()
    monkeypatch.setenv("CSAT_RADAR_DB", str(db))
    return db


def open_app() -> AppTest:
    app = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    app.run()
    assert not app.exception, app.exception
    return app


def test_overview_shows_the_loaded_counts(fixture_warehouse):
    app = open_app()
    shown = {m.label: m.value for m in app.metric}
    assert shown == {"Tickets": "3", "Survey answers": "3", "Complaints": "3"}
    assert any("Data from 2015-06-03 to 2026-07-02" in c.value for c in app.caption)


def test_empty_warehouse_says_so(tmp_path, monkeypatch):
    monkeypatch.setenv("CSAT_RADAR_DB", str(tmp_path / "empty.duckdb"))
    app = open_app()
    assert any("The warehouse is empty" in i.value for i in app.info)
    assert not app.metric


def test_every_page_file_is_opened_by_a_test():
    assert PAGES == ["overview.py"], "a new page needs its AppTest here"
