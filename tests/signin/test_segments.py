"""A user limited to segments sees and touches only their segments: crisis actions, crisis lists, the review."""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import duckdb
import polars as pl
import pytest

from metrics.crises import handling, log
from metrics.crises.log_rows import CrisisLogError
from metrics.kpis.compute import Query, compute
from metrics.kpis.scope import View
from metrics.kpis.settings import load_settings
from metrics.reports.review import quarter_bounds, quarterly_review, render_html, write_excel
from metrics.views import dashboard
from pipelines.signin import access
from pipelines.warehouse.store import connect

QUARTER = "2026Q2"
TEAM = "Logistics"  # the demo (seed 3) has crises of teams Logistics, Onboarding and Technical
LEAD = access.Actor("lead", "manager", (("team", (TEAM,)),))
ADMIN = access.Actor("boss", "admin")


@pytest.fixture
def warehouse(demo, tmp_path) -> Path:
    db = tmp_path / "demo.duckdb"
    shutil.copy(demo[0], db)
    return db


def crisis_of(con, dimension: str, segment: str) -> int:
    return con.sql(
        "SELECT min(crisis_id) FROM crises WHERE dimension = ? AND segment = ?", params=[dimension, segment]
    ).fetchall()[0][0]


def brought_to(con, crisis_id: int, action: str) -> tuple:
    """Move the crisis (as an administrator) to where ``action`` would succeed; return that action's call."""
    if action == "acknowledge":
        return handling.acknowledge, (crisis_id,), {"owner": "Lee", "actor": "lead"}
    handling.acknowledge(con, crisis_id, owner="Ann", actor="boss")
    if action == "advance":
        return handling.advance, (crisis_id, "response_plan_active"), {"actor": "lead"}
    if action == "confirm_recovery":
        return handling.confirm_recovery, (crisis_id,), {"actor": "lead"}
    handling.confirm_recovery(con, crisis_id, actor="boss")
    review = {"fishbone_category": "process", "five_whys": list("abcde"), "actions_taken": "x", "review_text": "done"}
    return handling.write_review, (crisis_id,), {"actor": "lead", **review}


CRISIS_ACTIONS = sorted(a for a, entry in access.actions().items() if entry.get("on") == "crisis")


def test_every_action_on_one_crisis_is_marked_as_such():
    assert CRISIS_ACTIONS == ["acknowledge", "advance", "confirm_recovery", "write_review"]


@pytest.mark.parametrize("action", CRISIS_ACTIONS)
def test_a_limited_manager_may_not_act_on_a_crisis_of_another_segment(warehouse, action):
    con = connect(warehouse)
    other = crisis_of(con, "team", "Onboarding")
    function, args, kwargs = brought_to(con, other, action)
    before = log.get_crisis(con, other)
    refused = rf"lead may not .* crisis {other}: it is not among the crises of their segments"
    with pytest.raises(access.AccessDenied, match=refused) as denied:
        access.perform(con, LEAD, action, function, *args, target=f"crisis {other}", **kwargs)
    assert "Onboarding" not in str(denied.value), "a refusal does not name what lies outside the limit"
    after = log.get_crisis(con, other)
    assert (after["status"], after["owner"], len(after["events"])) == (
        before["status"],
        before["owner"],
        len(before["events"]),
    )
    audited = con.sql(
        "SELECT actor, role, outcome, target, detail::VARCHAR FROM audit_log WHERE action = ? ORDER BY audit_id",
        params=[action],
    ).fetchall()
    assert audited[-1][:4] == ("lead", "manager", "refused", f"crisis {other}")
    assert "not among the crises of their segments" in audited[-1][4]
    # an id that names no crisis reads alike, so ids of other segments cannot be told from gaps
    missing = con.sql("SELECT max(crisis_id) + 1000 FROM crises").fetchall()[0][0]
    with pytest.raises(access.AccessDenied, match=rf"crisis {missing}: it is not among the crises of their"):
        access.perform(con, LEAD, action, function, missing, *args[1:], target=f"crisis {missing}", **kwargs)
    # the same manager acts on a crisis of their own team: the check is the segment, not the role
    own = crisis_of(con, "team", TEAM)
    function, args, kwargs = brought_to(con, own, action)
    access.perform(con, LEAD, action, function, *args, target=f"crisis {own}", **kwargs)
    assert con.sql("SELECT outcome FROM audit_log ORDER BY audit_id DESC LIMIT 1").fetchall() == [("done",)]
    con.close()


def test_a_crisis_of_the_whole_organisation_or_of_another_dimension_is_outside_a_team_limit():
    assert access.within((("team", (TEAM,)),), "team", TEAM)
    assert not access.within((("team", (TEAM,)),), "overall", "all")
    assert not access.within((("team", (TEAM,)),), "category", "delivery delay")
    # limited to one channel of the team, the team's crisis would show the team's other channels
    assert not access.within((("channel", ("email",)), ("team", (TEAM,))), "team", TEAM)
    assert access.within((), "overall", "all")


@pytest.fixture(scope="module")
def reviews(demo):
    con = duckdb.connect(str(demo[0]), read_only=True)
    limited = View(limit=LEAD.segments)
    yield quarterly_review(con, QUARTER, view=limited), quarterly_review(con, QUARTER), con
    con.close()


def other_teams(con) -> list[str]:
    return [t for (t,) in con.sql("SELECT DISTINCT team FROM tickets WHERE team <> ?", params=[TEAM]).fetchall()]


def test_the_review_of_a_limited_user_holds_only_their_crises_and_their_kpis(reviews):
    limited, whole, con = reviews
    assert set(whole.crises["where"]) - {f"team {TEAM}"}, "the demo quarter should have crises elsewhere"
    assert limited.crises.height > 0
    assert set(limited.crises["where"]) == {f"team {TEAM}"}
    start, end = quarter_bounds(QUARTER)
    team = compute(con, Query(("ticket_volume",), "quarter", None, start, end, LEAD.segments), load_settings())
    shown = limited.kpis.filter(pl.col("metric") == "ticket_volume")["value"][0]
    assert shown == f"{int(team['value'][0]):,}"
    assert shown != whole.kpis.filter(pl.col("metric") == "ticket_volume")["value"][0]


def test_the_review_html_and_workbook_of_a_limited_user_name_no_other_team(reviews):
    limited, _, con = reviews
    page = render_html(limited)
    buffer = io.BytesIO()
    write_excel(limited, buffer)
    sheet = pl.read_excel(buffer.getvalue(), sheet_name="Crises")
    assert set(sheet["Where"]) == {f"team {TEAM}"}
    assert f"team {TEAM}" in page
    for team in other_teams(con):
        assert f"team {team}" not in page
        assert not sheet.select(pl.all().cast(pl.String).str.contains(team).any()).row(0)[0]


def test_crisis_lists_and_counts_of_a_limited_view_stay_in_its_segments(demo):
    con = duckdb.connect(str(demo[0]), read_only=True)
    settings = load_settings()
    # a view asking for another team is narrowed back to the limit
    view = View(segments=(("team", ("Onboarding",)),), limit=LEAD.segments)
    assert view.segments == LEAD.segments
    table = dashboard.crisis_table(con, settings, view, None, None, None, False)
    assert set(table["where"]) == {f"team {TEAM}"}
    listed = dashboard.open_crisis_list(con, settings, view)
    assert set(listed["where"]) <= {f"team {TEAM}"}
    counts = dashboard.open_crises_by_severity(con, settings, view)
    assert sum(counts.values()) == listed.height
    assert set(dashboard.filter_options(con, settings, view)["team"]) == {TEAM}
    other = crisis_of(con, "team", "Onboarding")
    with pytest.raises(CrisisLogError, match=f"Crisis {other} is not in the log or outside the segments you may see"):
        dashboard.visible_crisis(con, view, other)
    assert dashboard.visible_crisis(con, View(), other)["segment"] == "Onboarding"
    missing = other + 10_000
    with pytest.raises(CrisisLogError, match=f"Crisis {missing} is not in the log or outside the segments"):
        dashboard.visible_crisis(con, view, missing)
    behind = dashboard.records_behind(con, settings, view, "ticket_volume", dimension="team", segment="Onboarding")
    assert behind.is_empty()
    assert set(dashboard.records_behind(con, settings, view, "ticket_volume")["team"]) == {TEAM}
    con.close()


def test_a_limited_user_may_not_load_or_undo_and_sees_no_other_s_batch(warehouse, tmp_path):
    """A file writes rows of any segment, and its updated/duplicate counts tell which ids exist elsewhere."""
    from metrics.views.summary import warehouse_summary
    from pipelines.ingest import ingest_file
    from pipelines.undo import undo_batch

    con = connect(warehouse)
    analyst = access.Actor("ann", "analyst", (("team", (TEAM,)),))
    source = tmp_path / "relabel.csv"
    source.write_text(f"ticket_id,created_at,channel,team\nT-0000001,2026-03-02 09:00,email,{TEAM}\n", encoding="utf-8")
    batches = con.sql("SELECT count(*) FROM batches").fetchall()
    with pytest.raises(access.AccessDenied, match="ann may not load an export .*limited to some"):
        access.perform(con, analyst, "upload", ingest_file, source, "tickets", source_tz="UTC", loaded_by="ann")
    assert con.sql("SELECT count(*) FROM batches").fetchall() == batches, "nothing was loaded"
    theirs = con.sql("SELECT min(batch_id) FROM batches WHERE status = 'loaded'").fetchall()[0][0]
    with pytest.raises(access.AccessDenied, match="ann may not undo a loaded batch"):
        access.perform(con, analyst, "undo", undo_batch, theirs, target=f"batch {theirs}")
    assert con.sql("SELECT status FROM batches WHERE batch_id = ?", params=[theirs]).fetchall() == [("loaded",)]
    assert not access.allowed(analyst, "upload") and access.allowed(access.Actor("al", "analyst"), "upload")
    assert warehouse_summary(con, loaded_by="ann").recent_batches.is_empty()
    assert warehouse_summary(con).recent_batches.height > 0
    con.close()


def test_a_crisis_named_by_keyword_or_not_at_all_is_checked_as_one_named_first(warehouse):
    con = connect(warehouse)
    other = crisis_of(con, "team", "Onboarding")
    status = log.get_crisis(con, other)["status"]
    for args, kwargs in (((), {"crisis_id": other}), ((), {}), (("twenty",), {})):
        with pytest.raises(access.AccessDenied, match="it is not among the crises of their segments"):
            access.perform(con, LEAD, "acknowledge", handling.acknowledge, *args, owner="x", actor="lead", **kwargs)
    assert log.get_crisis(con, other)["status"] == status
    con.close()


def test_a_limited_user_is_not_told_the_organisation_s_counts(demo):
    con = duckdb.connect(str(demo[0]), read_only=True)
    settings = load_settings()
    assert dashboard.record_counts(con, settings, View(limit=LEAD.segments)) is None
    whole = dashboard.record_counts(con, settings, View())
    assert whole["tickets"] == con.sql("SELECT count(*) FROM tickets").fetchall()[0][0] > 0
    con.close()


def test_a_scan_by_a_limited_manager_counts_only_their_crises(warehouse):
    con = connect(warehouse)
    settings = load_settings(as_of=con.sql("SELECT max(created_at) FROM tickets").fetchall()[0][0])
    whole = dashboard.refresh_crisis_log(con, settings, "week")
    theirs = dashboard.refresh_crisis_log(con, settings, "week", view=View(limit=LEAD.segments))
    # Found over the whole history: most are recovered by now, so all their logged crises count.
    logged_theirs = dashboard.crisis_table(con, settings, View(limit=LEAD.segments), None, None, None)
    assert 0 < theirs < whole
    assert theirs <= logged_theirs.height
    con.close()


def test_a_limited_user_is_offered_only_values_found_within_their_segments(tmp_path):
    from pipelines.ingest import ingest_file

    source = tmp_path / "two_teams.csv"
    source.write_text(
        "ticket_id,created_at,channel,team,product,region\n"
        "A-1,2026-03-02 09:00,email,Billing,Invoices,North\n"
        "B-1,2026-03-02 10:00,chat,Onboarding,Secret launch,South\n",
        encoding="utf-8",
    )
    con = connect(tmp_path / "two.duckdb")
    ingest_file(con, source, "tickets", source_tz="UTC")
    limited = dashboard.filter_options(con, load_settings(), View(limit=(("team", ("Billing",)),)))
    assert (limited["team"], limited["product"], limited["region"], limited["channel"]) == (
        ["Billing"],
        ["Invoices"],
        ["North"],
        ["email"],
    )
    whole = dashboard.filter_options(con, load_settings(), View())
    assert whole["product"] == ["Invoices", "Secret launch"]
    con.close()


def test_a_crisis_folded_from_other_places_names_to_a_limited_user_only_theirs(warehouse):
    con = connect(warehouse)
    own = crisis_of(con, "team", TEAM)
    con.execute(
        "UPDATE crises SET evidence = json_merge_patch(evidence, ?) WHERE crisis_id = ?",
        ['{"also_seen_in": ["team Onboarding", "channel email", "team ' + TEAM + '"]}', own],
    )
    shown = dashboard.visible_crisis(con, View(limit=LEAD.segments), own)
    assert shown["evidence"]["also_seen_in"] == [f"team {TEAM}"]
    whole = dashboard.visible_crisis(con, View(), own)
    assert "team Onboarding" in whole["evidence"]["also_seen_in"]
    con.close()
