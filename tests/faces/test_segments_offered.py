"""The pages offer and break down only segments that exist: no "(none)" for a dimension the file lacks, one "Web".

The warehouse holds a ticket export with a channel (spelled "Web", "web" and "WEB") and no team,
product, region or tier, loaded with the real command line.
"""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest
from streamlit.testing.v1 import AppTest

from metrics.kpis.scope import View
from metrics.kpis.settings import settings_for
from metrics.views.dashboard import SERVICE_METRICS, by_segment, filter_options, split_dimensions
from tests.conftest import ROOT, run_cli, write


@pytest.fixture
def channels_only(tmp_path, monkeypatch) -> Path:
    rows = "".join(
        f"T{i},2026-05-{1 + i % 28:02d} 09:{i % 60:02d},2026-05-{1 + i % 28:02d} 10:{i % 60:02d},"
        f"{('Web', 'Web', 'web', 'WEB', 'Chat')[i % 5]}\n"
        for i in range(120)
    )
    export = write(tmp_path / "tickets.csv", "Ticket No,Opened At,First Reply At,Via\n" + rows)
    db = tmp_path / "warehouse.duckdb"
    loaded = run_cli("ingest", "--db", str(db), "--kind", "tickets", "--tz", "UTC", str(export))
    assert loaded.returncode == 0 and "120 loaded" in loaded.stdout, loaded.stdout + loaded.stderr
    monkeypatch.setenv("CSAT_RADAR_DB", str(db))
    return db


def test_filters_splits_and_tables_name_only_the_segments_the_data_has(channels_only):
    with duckdb.connect(str(channels_only), read_only=True) as con:
        settings, view = settings_for(con), View()
        options = filter_options(con, settings, view)
        splits = split_dimensions(con, settings, view)
        by_team = by_segment(con, settings, view, SERVICE_METRICS, "team")
        by_channel = by_segment(con, settings, view, SERVICE_METRICS, "channel")

    assert options["channel"] == ["Chat", "Web"]
    assert not options["team"] and not options["product"]
    assert splits == ("channel",)
    assert by_team.is_empty()  # not one row "(none)" holding every ticket
    assert sorted(zip(by_channel["channel"], by_channel["records"], strict=True)) == [("Chat", 24), ("Web", 96)]


def open_page(page: str) -> AppTest:
    app = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    app.run()
    app.switch_page(f"pages/{page}.py")
    app.run()
    assert not app.exception, app.exception
    return app


def test_service_levels_shows_a_table_per_recorded_dimension_and_trends_offers_only_its_split(channels_only):
    service = open_page("service_levels")
    assert [s.value for s in service.subheader if s.value.startswith("By ")] == ["By channel"]
    assert set(service.dataframe[0].value["Channel"]) == {"Chat", "Web"}

    trends = open_page("trends")
    assert trends.selectbox(key="trend_split").options == ["(none)", "channel"]


def test_kpis_by_a_dimension_no_record_has_says_so_instead_of_one_row_none(channels_only):
    asked = ("kpis", "--db", str(channels_only), "--metric", "ticket_volume", "--grain", "quarter")
    by_team = run_cli(*asked, "--by", "team")
    by_channel = run_cli(*asked, "--by", "channel", "--json")

    assert by_team.returncode == 0, by_team.stderr
    as_of, said = by_team.stdout.strip().splitlines()
    assert as_of.startswith("Data as of ") and said == "no record has a team: nothing to break down by"
    assert {(r["segment"], r["value"]) for r in json.loads(by_channel.stdout)} == {("Chat", 24), ("Web", 96)}
