"""The radar on the data's own clock: a history that ended weeks ago is judged where it ends.

Run weeks after the demo's last export (2026-11-15), the radar used to raise "backlog age rose"
crises in weeks with no data, open tickets ageing against the wall clock; and a historical
export gave ``[]`` with no word why, the default window being the 90 days before today.
"""

from __future__ import annotations

import json
import shutil
from datetime import UTC, date, datetime, timedelta

import polars as pl
import pytest

from cli.demo import build_demo
from metrics.crises.backtest import data_end
from metrics.crises.log import list_crises
from metrics.kpis.settings import load_settings, settings_for
from metrics.views.dashboard import refresh_crisis_log
from pipelines.warehouse.store import connect, warehouse_as_of
from tests.conftest import run_cli, write


@pytest.fixture(scope="module")
def demo_without_log(tmp_path_factory):
    """The demo (data up to 2026-11-15) with an empty crisis log: the scan under test fills it."""
    db = tmp_path_factory.mktemp("clock") / "demo.duckdb"
    build_demo(db, seed=3, log_crises=False)
    return db


def test_crises_without_since_are_those_of_the_data_s_last_90_days_and_none_after_its_end(demo_without_log, tmp_path):
    db = shutil.copy(demo_without_log, tmp_path / "demo.duckdb")
    scanned = run_cli("crises", "--json", "--grain", "week", "--db", str(db))
    assert scanned.returncode == 0, scanned.stderr
    crises = json.loads(scanned.stdout)
    con = connect(db, read_only=True)
    try:
        as_of = warehouse_as_of(con)
    finally:
        con.close()
    # The demo's export is taken at midnight after its last day, 2026-11-15: that day is whole.
    assert as_of == datetime(2026, 11, 16, tzinfo=UTC)
    data_end = (as_of - timedelta(microseconds=1)).date()
    assert crises, "the demo has crises in its last 90 days"
    last_week = data_end - timedelta(days=data_end.weekday())
    after = [(c["start"], c["metric"], c["segment"]) for c in crises if date.fromisoformat(c["start"]) > last_week]
    assert after == [], f"raised in weeks with no data: {after}"
    window = data_end - timedelta(days=90)
    assert all(c["end"] is None or date.fromisoformat(c["end"]) >= window for c in crises)
    assert not any(c["metric"] == "backlog_age" for c in crises)


def test_crises_found_in_no_window_say_which_window_and_the_data_s_span(tmp_path):
    db = tmp_path / "history.duckdb"
    tickets = "id;opened;closed\n" + "".join(
        f"H-{i};2017-0{1 + i % 3}-{10 + i % 15} 10:00;2017-0{1 + i % 3}-{10 + i % 15} 16:00\n" for i in range(40)
    )
    loaded = run_cli("ingest", str(write(tmp_path / "h.csv", tickets)), "--kind", "tickets", "--tz", "UTC",
                     "--map", "ticket_id=id", "--map", "created_at=opened", "--map", "closed_at=closed",
                     "--db", str(db))  # fmt: skip
    assert loaded.returncode == 0, loaded.stderr
    scanned = run_cli("crises", "--json", "--db", str(db))
    assert scanned.returncode == 0, scanned.stderr
    assert json.loads(scanned.stdout) == []
    # The window is the data's last 90 days (to 2017-03-24), and the message says so and what the data covers.
    assert "2016-12-24 → 2017-03-24" in scanned.stderr
    assert "the data spans 2017-01-10 → 2017-03-24" in scanned.stderr
    assert "--since" in scanned.stderr
    shown = run_cli("crises", "--since", "2016-01-01", "--db", str(db))
    assert "no crisis at week grain in the window scanned, 2016-01-01 → 2017-03-24" in shown.stdout


def test_scan_now_with_settings_loaded_without_a_moment_raises_nothing_after_the_data_s_end(demo_without_log, tmp_path):
    """The Crisis radar page's "Scan now" loads the settings with no moment: the scan is still the data's."""
    db = shutil.copy(demo_without_log, tmp_path / "demo.duckdb")
    con = connect(db)
    try:
        refresh_crisis_log(con, load_settings(), "week")
        log = list_crises(con)
        data_end = warehouse_as_of(con)
        now = settings_for(con).as_of
    finally:
        con.close()
    assert log.height > 0
    assert log["start_period"].max() <= data_end.date()
    assert log.filter(pl.col("metric") == "backlog_age").is_empty()
    assert (log["created_at"] == now).all() and now - data_end < timedelta(seconds=1)  # the data's moment, not today


def test_the_backtest_s_data_end_is_the_warehouse_s_as_of_to_the_end_of_its_day(tmp_path):
    """One rule for where the data ends: the backtest read the last ticket's creation, blind to later events."""
    db = tmp_path / "ends.duckdb"
    tickets = "Ref,Logged,Done\nE-1,2026-03-02 09:00,2026-03-02 10:00\nE-2,2026-03-05 11:00,2026-03-07 16:20\n"
    source = write(tmp_path / "t.csv", tickets)
    mapped = ("--map", "ticket_id=Ref", "--map", "created_at=Logged", "--map", "closed_at=Done")
    assert run_cli("ingest", str(source), "--kind", "tickets", "--tz", "UTC", *mapped, "--db", str(db)).returncode == 0
    con = connect(db, read_only=True)
    try:  # the last event is a closing on Saturday the 7th, two days after the last ticket was opened
        assert data_end(con) == datetime(2026, 3, 8, tzinfo=UTC)
    finally:
        con.close()
    said = run_cli("ingest", str(source), "--kind", "tickets", "--tz", "UTC", *mapped, "--as-of", "2026-03-09",
                   "--db", str(db))  # fmt: skip
    assert said.returncode == 0, said.stderr
    con = connect(db, read_only=True)
    try:  # an --as-of is where the data ends, kept as given when it is a midnight
        assert data_end(con) == datetime(2026, 3, 10, tzinfo=UTC) == warehouse_as_of(con)
    finally:
        con.close()
