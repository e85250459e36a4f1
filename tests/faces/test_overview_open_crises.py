"""The Overview's open crises in the app (AppTest): every one listed, ten a page or all at once, filters applied.

On a copy of the demo with up to twelve of its crises flagged again, so there is more than a page to list.
"""

from __future__ import annotations

import re
import shutil

import duckdb
import pytest

from metrics.kpis.scope import View
from metrics.kpis.settings import load_settings
from metrics.views.crisis_lists import open_crisis_list
from pipelines.warehouse.store import connect
from tests.crises.reflagged import reflag
from tests.faces.test_app import open_page


@pytest.fixture(scope="module")
def twelve_open(demo, tmp_path_factory):
    """The demo's warehouse with its twelve latest crises open again; yields (path, the open list's ids in order)."""
    db = tmp_path_factory.mktemp("overview") / "demo.duckdb"
    shutil.copy(demo[0], db)
    con = connect(db)
    reflag(con, 12)
    con.close()
    return db


@pytest.fixture
def on_twelve(twelve_open, monkeypatch):
    monkeypatch.setenv("CSAT_RADAR_DB", str(twelve_open))
    return twelve_open


def expected_ids(db, view: View) -> list[int]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return open_crisis_list(con, load_settings(), view)["id"].to_list()
    finally:
        con.close()


def listed_ids(app) -> list[int]:
    return [int(b.key.removeprefix("open_crisis_")) for b in app.button if b.key and b.key.startswith("open_crisis_")]


def counted(app) -> int:
    return sum(int(n) for m in app.markdown for n in re.findall(r"\*\*(\d+)\*\* open", m.value))


def test_the_overview_pages_every_open_crisis_ten_at_a_time_or_all(on_twelve):
    ids = expected_ids(on_twelve, View())
    n = len(ids)
    assert n > 10, "more open crises than a page holds"
    app = open_page("overview")
    assert listed_ids(app) == ids[:10] and counted(app) == n
    assert any(f"1–10 of {n}" in c.value for c in app.caption)

    app.radio(key="open_crises_page").set_value(2).run()
    assert listed_ids(app) == ids[10:]
    app.toggle(key="open_crises_all").set_value(True).run()
    assert listed_ids(app) == ids and counted(app) == n


def test_the_overview_s_open_crises_follow_the_channel_filter(on_twelve):
    phone = View(segments=(("channel", ("phone",)),))
    ids = expected_ids(on_twelve, phone)
    assert len(ids) < len(expected_ids(on_twelve, View())), "the demo's open crises include other channels"
    app = open_page("overview", session={"filter_channel": ["phone"]})
    assert listed_ids(app) == ids and counted(app) == len(ids)
