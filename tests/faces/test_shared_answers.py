"""Answers shared by every session of the server: computed once at a data version, new after a load.

Twenty managers opening the Overview together must not compute it twenty times, and a load from
the command line while the app runs must show on the next page, not a cache lifetime later.
"""

from __future__ import annotations

import re

import pytest
from streamlit.runtime.caching.cache_metrics import get_cache_metrics

from pipelines.ingest import ingest_file
from pipelines.warehouse.store import connect
from tests.conftest import FIXTURES, run_cli
from tests.faces.test_app import open_page, small_warehouse, tiles  # noqa: F401 (small_warehouse: a fixture)

COUNTS = re.compile(r"([\d,]+) tickets, ([\d,]+) survey answers and ([\d,]+) complaints in the warehouse")


def computed(function: str) -> int:
    """How many times the server computed an answer of ``function`` (its cache misses), process-wide."""
    stats = get_cache_metrics().get_stats(["cache_lookups"])["cache_lookups"]
    return sum(
        s.value
        for s in stats
        if s.labels["cache"] == f"pages._frame.questions.{function}" and s.labels["result"] == "miss"
    )


def shown_counts(app) -> tuple[str, ...]:
    found = [m.groups() for c in app.caption if (m := COUNTS.search(c.value))]
    assert len(found) == 1, [c.value for c in app.caption]
    return found[0]


@pytest.mark.usefixtures("small_warehouse")
def test_a_second_session_opening_the_overview_computes_nothing_and_sees_the_same_tiles():
    first = open_page("overview")
    asked = computed("_ask")
    second = open_page("overview")  # another session: its own state, the server's one cache
    assert computed("_ask") == asked
    assert tiles(second) == tiles(first)
    assert shown_counts(second) == shown_counts(first)


@pytest.mark.usefixtures("small_warehouse")
def test_the_second_session_on_the_quarterly_review_reads_the_first_ones_review():
    first = open_page("quarterly_review")
    reviewed = computed("_review")
    second = open_page("quarterly_review")
    assert computed("_review") == reviewed
    assert len(second.table) == len(first.table) > 0


@pytest.fixture
def tickets_only(tmp_path, monkeypatch):
    db = tmp_path / "loads.duckdb"
    con = connect(db)
    ingest_file(con, FIXTURES / "profiles" / "generic.csv", "tickets", source_tz="UTC")
    con.close()
    monkeypatch.setenv("CSAT_RADAR_DB", str(db))
    return db


def test_after_a_load_from_the_command_line_the_next_page_shows_the_new_numbers(tickets_only):
    before = shown_counts(open_page("overview"))
    assert before[1] == "0"
    loaded = run_cli("ingest", str(FIXTURES / "profiles" / "chatwoot.csv"), "--kind", "surveys", "--tz", "UTC",
                     "--db", str(tickets_only))  # fmt: skip
    assert loaded.returncode == 0, loaded.stderr
    after = shown_counts(open_page("overview"))  # well within the cache's lifetime
    assert after[0] == before[0]
    assert int(after[1].replace(",", "")) > 0
