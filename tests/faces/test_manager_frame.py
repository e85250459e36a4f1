"""The manager's frame and pages with AppTest: the review leads with missed targets, filters show only where they
apply, the warehouse path only to administrators, and a new session's dates are the data's recent span."""

from __future__ import annotations

import re
import shutil
from datetime import date, datetime, timedelta
from pathlib import Path

import duckdb
import pytest
from streamlit.testing.v1 import AppTest

from metrics.kpis.presentation import STATUS_COLOURS
from metrics.reports.review import NEEDS_DISCUSSING, last_complete_quarter, quarterly_review
from metrics.views.summary import warehouse_summary
from pipelines.ingest import ingest_file
from pipelines.signin import access
from pipelines.warehouse.store import connect
from tests.conftest import ROOT
from tests.crises.reflagged import reflag
from tests.faces.test_app import open_page as open_app_page

PASSWORD = "correct horse battery"
HEADER = (
    "ticket id,created at,first response at,resolved at,status,channel,category,priority,team,agent,"
    "customer id,tier,region,product,is complaint,reopen count"
)


@pytest.fixture(scope="module")
def warehouse(demo, tmp_path_factory) -> Path:
    """A copy of the demo warehouse with three crises open again, for the pages that read it."""
    db = tmp_path_factory.mktemp("frame") / "demo.duckdb"
    shutil.copy(demo[0], db)
    con = connect(db)
    reflag(con, 3)
    con.close()
    return db


def open_page(db: Path, page: str, query: dict | None = None) -> AppTest:
    """``test_app.open_page`` on the warehouse at ``db``."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CSAT_RADAR_DB", str(db))
        return open_app_page(page, query)


def styled_colours(styles: str) -> dict[tuple[int, int], str]:
    """The colour the table's styler gives each (row, column) cell."""
    colours = {}
    for cells, colour in re.findall(r"([^{}]+)\{\s*color:\s*(#[0-9a-f]{6})", styles):
        for row, column in re.findall(r"row(\d+)_col(\d+)", cells):
            colours[int(row), int(column)] = colour
    return colours


def test_the_review_leads_with_the_missed_targets_lists_every_kpi_and_colours_the_statuses(warehouse):
    app = open_page(warehouse, "quarterly_review")
    con = duckdb.connect(str(warehouse), read_only=True)
    expected = quarterly_review(con, last_complete_quarter(con)).kpis
    con.close()
    missed = expected.filter(expected["status"].is_in(list(NEEDS_DISCUSSING)))
    assert not missed.is_empty(), "the demo misses targets in its last complete quarter"
    # The summary above the table names every missed target with its number and target.
    summary = app.error[0].value
    assert summary.startswith("Targets missed:")
    for row in missed.iter_rows(named=True):
        assert f"**{row['label']}** {row['value']} (target {row['target']})" in summary
    shown = app.table[0].value
    assert len(shown) == expected.height, "every KPI row, in a table that does not scroll"
    assert list(shown["KPI"]) == expected["label"].to_list()
    statuses = expected["status"].to_list()
    ranks = [NEEDS_DISCUSSING.get(s, len(NEEDS_DISCUSSING)) for s in statuses]
    assert ranks == sorted(ranks), "credibly missed first, then missed within the uncertainty, then the rest"
    assert list(shown.columns[:6]) == ["KPI", "Value", "95% interval", "n", "Target", "Status"]
    assert not {"metric", "status", "status_text", "change_significant"} & set(shown.columns)
    colours = styled_colours(app.table[0].proto.arrow_data.styler.styles)
    status_column = list(shown.columns).index("Status")
    for row, status in enumerate(statuses):
        assert colours.get((row, status_column)) == STATUS_COLOURS.get(status), (row, status)


def test_the_review_in_chinese_names_kpis_and_statuses_in_chinese(warehouse):
    from metrics.kpis.catalog import metric
    from pages._frame.language import ZH

    app = open_page(warehouse, "quarterly_review", {"lang": "zh"})
    con = duckdb.connect(str(warehouse), read_only=True)
    expected = quarterly_review(con, last_complete_quarter(con)).kpis
    con.close()
    shown = app.table[0].value
    assert list(shown["指标"]) == [metric(name).label_zh for name in expected["metric"]]
    assert list(shown["状态"]) == [ZH[text] for text in expected["status_text"]]
    assert app.error[0].value.startswith("未达标的目标：")


def test_filters_show_only_on_the_pages_they_change(warehouse):
    overview = open_page(warehouse, "overview")
    assert len(overview.sidebar.date_input) == 1 and overview.sidebar.multiselect
    for page in ("admin", "upload"):
        app = open_page(warehouse, page)
        assert not app.sidebar.date_input and not app.sidebar.multiselect, page
        assert "Filters" not in [m.value for m in app.sidebar.markdown]
    review = open_page(warehouse, "quarterly_review")
    assert not review.sidebar.date_input, "the review's quarter is chosen on the page"
    assert review.sidebar.multiselect, "its segment filters narrow the review"


def test_filters_chosen_on_the_overview_survive_a_visit_to_a_page_without_them(warehouse, monkeypatch):
    app = open_page(warehouse, "overview", {"from": "2026-06-01", "to": "2026-09-30", "channel": "email"})
    monkeypatch.setenv("CSAT_RADAR_DB", str(warehouse))
    app.switch_page("pages/admin.py")
    app.run()
    app.switch_page("pages/overview.py")
    app.run()
    assert app.sidebar.date_input[0].value == (date(2026, 6, 1), date(2026, 9, 30))
    assert app.sidebar.multiselect(key="filter_channel").value == ["email"]


def test_administration_does_not_blame_the_filters_for_an_empty_list(warehouse):
    app = open_page(warehouse, "admin")
    captions = [c.value for c in app.caption]
    assert not any("these filters" in c for c in captions), captions


def test_the_warehouse_path_is_shown_to_administrators_only(warehouse, tmp_path, monkeypatch):
    db = tmp_path / "users.duckdb"
    shutil.copy(warehouse, db)
    con = connect(db)
    for role in ("viewer", "admin"):
        access.add_user(con, role, role, PASSWORD, created_by="test")
    con.close()
    monkeypatch.setenv("CSAT_RADAR_DB", str(db))
    monkeypatch.setenv(access.AUTH_ENV, "password")
    for who, shows_path in (("viewer", False), ("admin", True)):
        app = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
        app.run()
        app.text_input(key="sign_in_name").set_value(who)
        app.text_input(key="sign_in_password").set_value(PASSWORD)
        app.button[0].click()
        app.run()
        assert not app.exception, app.exception
        sidebar = " ".join(c.value for c in app.sidebar.caption)
        assert "Data as of" in sidebar, who
        assert (str(db) in sidebar) is shows_path, (who, sidebar)


def write_tickets(path: Path, first: datetime, days: int, prefix: str) -> Path:
    """A ticket export, one ticket a day from ``first``, in the generic helpdesk layout."""
    rows = [
        f"{prefix}-{i},{created:%Y-%m-%d %H:%M},{created + timedelta(minutes=20):%Y-%m-%d %H:%M},"
        f"{created + timedelta(hours=5):%Y-%m-%d %H:%M},resolved,email,billing,normal,Billing,ann,cu-{i},"
        "standard,East,Widget,no,0"
        for i, created in enumerate(first + timedelta(days=d) for d in range(days))
    ]
    path.write_text("\n".join([HEADER, *rows]) + "\n", encoding="utf-8")
    return path


def session_dates(db: Path, query: dict | None = None) -> tuple[date, date]:
    return open_page(db, "overview", query).sidebar.date_input[0].value


def test_an_old_export_does_not_stretch_the_default_dates_back_to_its_year(tmp_path):
    recent = write_tickets(tmp_path / "recent.csv", datetime(2025, 1, 6, 9), 600, "R")
    old = write_tickets(tmp_path / "old.csv", datetime(2013, 3, 4, 9), 40, "O")

    both = tmp_path / "both.duckdb"
    con = connect(both)
    ingest_file(con, recent, "tickets", source_tz="UTC")
    ingest_file(con, old, "tickets", source_tz="UTC")
    summary = warehouse_summary(con)
    con.close()
    last = summary.last_day
    assert summary.first_activity.year == 2013, "the old export is in the warehouse"
    # Thirteen calendar months up to the data's last day: a year against the year before, the last quarter whole.
    assert session_dates(both) == (date(last.year - 1, last.month, 1), last)
    # A link's dates still win, old ones included.
    assert session_dates(both, {"from": "2013-03-04", "to": "2013-04-01"}) == (date(2013, 3, 4), date(2013, 4, 1))

    only_old = tmp_path / "old.duckdb"
    con = connect(only_old)
    ingest_file(con, old, "tickets", source_tz="UTC")
    summary = warehouse_summary(con)
    con.close()
    # Less than thirteen months of data: all of it.
    assert session_dates(only_old) == (summary.first_activity.date(), summary.last_day)
