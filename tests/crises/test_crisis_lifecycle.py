"""The radar's moves in a crisis's lifecycle, on a real warehouse file: recovered, reopened, escalated (issue 20).

Scans stand for the data's clock moving forward: every moment here is a scan's as-of, never the wall clock.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from metrics.crises.handling import acknowledge, advance, confirm_recovery
from metrics.crises.lifecycle import acknowledge_allowances
from metrics.crises.log import get_crisis, list_crises, record_scan
from metrics.crises.log_rows import CrisisLogError
from metrics.crises.rules import rules
from tests.crises.test_crisis_log import detected, scanned, snapshot, week

RULES = acknowledge_allowances()


def events(con, crisis_id: int) -> list[tuple]:
    return [(e["action"], e["from_value"], e["to_value"]) for e in get_crisis(con, crisis_id)["events"]]


def open_ids(con) -> list[int]:
    return list_crises(con, open_only=True)["crisis_id"].to_list()


def test_quiet_for_the_rules_periods_a_crisis_leaves_the_open_list_as_recovered(con):
    record_scan(con, [detected()], scanned(0))
    crisis_id = open_ids(con)[0]
    record_scan(con, [], scanned(1))
    assert open_ids(con) == [crisis_id]  # one quiet week is not enough

    assert record_scan(con, [], scanned(2))["recovery_proposed"] == 1
    crisis = get_crisis(con, crisis_id)
    assert (crisis["status"], crisis["is_open"], crisis["end_period"]) == ("recovered", False, None)
    assert open_ids(con) == []
    assert list_crises(con, status="recovered")["crisis_id"].to_list() == [crisis_id]
    assert events(con, crisis_id)[-1] == ("recovery_proposed", "detected", "recovered")


def test_flagged_again_before_confirmation_it_returns_to_the_status_it_had(con):
    record_scan(con, [detected(severity="major")], scanned(0))
    crisis_id = open_ids(con)[0]
    acknowledge(con, crisis_id, owner="Li Wei", actor="maria", at=scanned(0) + timedelta(hours=1))
    advance(con, crisis_id, "response_plan_active", actor="li", at=scanned(0) + timedelta(hours=2))
    record_scan(con, [], scanned(1))
    record_scan(con, [], scanned(2))
    assert get_crisis(con, crisis_id)["status"] == "recovered"

    record_scan(con, [detected(severity="major", start=3, last=3)], scanned(3))

    crisis = get_crisis(con, crisis_id)
    assert (crisis["status"], crisis["owner"], crisis["is_open"]) == ("response_plan_active", "Li Wei", True)
    assert (crisis["recovery_periods"], crisis["recovery_proposed_at"]) == (0, None)
    assert events(con, crisis_id)[-2:] == [
        ("extended", week(0).isoformat(), week(3).isoformat()),
        ("status_changed", "recovered", "response_plan_active"),
    ]
    assert "flagged again" in get_crisis(con, crisis_id)["events"][-1]["note"]
    assert open_ids(con) == [crisis_id]


def test_a_flag_long_after_the_recovery_opens_a_new_crisis_and_leaves_the_old_one_recovered(con):
    record_scan(con, [detected()], scanned(0))
    old = open_ids(con)[0]
    record_scan(con, [], scanned(2))
    record_scan(con, [detected(start=10, last=10)], scanned(10))
    assert get_crisis(con, old)["status"] == "recovered"
    new = open_ids(con)
    assert len(new) == 1 and new[0] != old and get_crisis(con, new[0])["start_period"] == week(10)


def test_a_recovered_crisis_is_confirmed_by_a_person(con):
    record_scan(con, [detected()], scanned(0))
    crisis_id = open_ids(con)[0]
    record_scan(con, [], scanned(2))
    confirm_recovery(con, crisis_id, actor="maria")
    crisis = get_crisis(con, crisis_id)
    assert (crisis["status"], crisis["end_period"]) == ("resolved", week(0))
    assert events(con, crisis_id)[-1] == ("recovery_confirmed", "recovered", "resolved")
    record_scan(con, [detected(start=1, last=1)], scanned(3))  # the same episode's old news stays closed
    assert get_crisis(con, crisis_id)["status"] == "resolved"


def test_a_person_may_take_a_recovered_crisis_in_hand_from_where_it_was(con):
    record_scan(con, [detected()], scanned(0))
    crisis_id = open_ids(con)[0]
    record_scan(con, [], scanned(2))
    before = snapshot(con)
    with pytest.raises(CrisisLogError, match="is detected; its next step is acknowledged") as refused:
        advance(con, crisis_id, "response_plan_active", actor="li")
    assert "\n" not in str(refused.value)
    assert snapshot(con) == before

    acknowledge(con, crisis_id, owner="Li Wei", actor="li", at=scanned(2))
    crisis = get_crisis(con, crisis_id)
    assert (crisis["status"], crisis["is_open"], crisis["status_before_recovery"]) == ("acknowledged", True, None)
    assert events(con, crisis_id)[-1] == ("acknowledged", "recovered", "acknowledged")
    record_scan(con, [], scanned(3))  # recovery was proposed once: the radar does not take it off again
    assert get_crisis(con, crisis_id)["status"] == "acknowledged"


def test_the_allowances_are_the_rules_lifecycle_table():
    hours = rules()["lifecycle"]["acknowledge_within_hours"]
    assert {severity: timedelta(hours=value) for severity, value in hours.items()} == RULES
    assert RULES["critical"] < RULES["major"] < RULES["minor"] and "observe" not in RULES
    with pytest.raises(CrisisLogError, match="unknown severity 'urgent'"):
        acknowledge_allowances({"acknowledge_within_hours": {"urgent": 4}})
    with pytest.raises(CrisisLogError, match="a positive number of hours is needed, not -1"):
        acknowledge_allowances({"acknowledge_within_hours": {"major": -1}})


def test_an_unacknowledged_crisis_escalates_once_on_the_data_clock(con):
    # Flagged in week 0, logged by a scan at week 1's first moment: the clock starts when it was logged.
    raised = datetime.combine(week(1), datetime.min.time(), tzinfo=UTC)
    record_scan(con, [detected(severity="major")], raised, acknowledge_within=RULES)
    crisis_id = open_ids(con)[0]
    assert get_crisis(con, crisis_id)["raised_at"] == raised

    # The wall clock is long past, yet on the data's clock 71 hours are within a major's 72.
    almost = raised + RULES["major"] - timedelta(hours=1)
    assert record_scan(con, [detected(severity="major")], almost, acknowledge_within=RULES)["escalated"] == 0
    assert get_crisis(con, crisis_id)["escalated_at"] is None

    due = raised + RULES["major"]
    assert record_scan(con, [detected(severity="major")], due, acknowledge_within=RULES)["escalated"] == 1
    crisis = get_crisis(con, crisis_id)
    assert (crisis["severity"], crisis["escalated_at"], crisis["status"]) == ("critical", due, "detected")
    event = crisis["events"][-1]
    assert (event["action"], event["from_value"], event["to_value"], event["at"]) == (
        "escalated",
        "major",
        "critical",
        due,
    )
    assert event["note"].startswith("not acknowledged within 3 days of being raised")
    assert crisis["severity_history"][-1]["severity"] == "critical"

    # Only once, and the radar's later grades keep the step up: major stays shown as critical.
    later = due + timedelta(days=2)
    assert record_scan(con, [detected(severity="major", last=1)], later, acknowledge_within=RULES)["escalated"] == 0
    crisis = get_crisis(con, crisis_id)
    assert crisis["severity"] == "critical"
    assert [a for a, _, _ in events(con, crisis_id)].count("escalated") == 1
    assert "severity_changed" not in [a for a, _, _ in events(con, crisis_id)]
    # A detector grade falling to minor shows as major: one level above the grade.
    record_scan(con, [detected(severity="minor", last=2)], scanned(2), acknowledge_within=RULES)
    assert events(con, crisis_id)[-1][0:3] == ("severity_changed", "critical", "major")


def test_a_critical_crisis_escalates_as_critical_and_observe_or_acknowledged_ones_never(con):
    raised = datetime.combine(week(1), datetime.min.time(), tzinfo=UTC)
    found = [
        detected(severity="critical", segment="A", dimension="team"),
        detected(severity="observe", segment="B", dimension="team"),
        detected(severity="critical", segment="C", dimension="team"),
    ]
    record_scan(con, found, raised, acknowledge_within=RULES)
    by_segment = {row["segment"]: row["crisis_id"] for row in list_crises(con).iter_rows(named=True)}
    acknowledge(con, by_segment["C"], owner="Li Wei", actor="maria", at=raised + timedelta(hours=2))

    counts = record_scan(con, found, raised + timedelta(days=30), acknowledge_within=RULES)
    assert counts["escalated"] == 1
    critical = get_crisis(con, by_segment["A"])
    assert critical["severity"] == "critical" and critical["events"][-1]["action"] == "escalated"
    assert critical["events"][-1]["note"].startswith("not acknowledged within 24 h of being raised")
    for segment in ("B", "C"):
        assert get_crisis(con, by_segment[segment])["escalated_at"] is None


def test_without_allowances_a_scan_escalates_nothing(con):
    record_scan(con, [detected(severity="critical")], scanned(0))
    assert record_scan(con, [detected(severity="critical")], scanned(0) + timedelta(days=9))["escalated"] == 0


def test_migration_15_moves_a_recovery_already_proposed_off_the_open_list(db_path):
    """A warehouse logged before the lifecycle: its proposed recoveries become recovered, its crises get raised_at."""
    import duckdb

    from pipelines.warehouse.store import connect, migrations

    old = duckdb.connect(str(db_path))
    old.execute("CREATE TABLE schema_version (version INTEGER, applied_at TIMESTAMPTZ)")
    for version, path in migrations():
        if version < 15:
            old.execute(path.read_text(encoding="utf-8"))
            old.execute("INSERT INTO schema_version VALUES (?, now())", [version])
    columns = "crisis_id, metric, dimension, segment, type, severity, grain, start_period, last_flagged, status"
    for crisis_id, status, proposed in ((1, "acknowledged", "2026-02-02"), (2, "detected", None)):
        old.execute(
            f"INSERT INTO crises ({columns}, recovery_proposed_at, created_at, updated_at) VALUES "
            "(?, 'csat', 'overall', 'all', 'customer_satisfaction', 'major', 'week', DATE '2026-01-05', "
            "DATE '2026-01-12', ?, ?::TIMESTAMPTZ, now(), now())",
            [crisis_id, status, proposed],
        )
    old.close()

    con = connect(db_path)
    rows = {r["crisis_id"]: r for r in list_crises(con).iter_rows(named=True)}
    con.close()
    assert (rows[1]["status"], rows[1]["status_before_recovery"], rows[1]["is_open"]) == (
        "recovered",
        "acknowledged",
        False,
    )
    assert (rows[2]["status"], rows[2]["is_open"]) == ("detected", True)
    assert rows[2]["raised_at"] == datetime(2026, 1, 19, tzinfo=UTC)  # logged later than its last week's end
