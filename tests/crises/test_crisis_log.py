"""The crisis log on a real warehouse file: scans open, extend and propose recovery; people handle crises in steps."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from metrics.crises.handling import acknowledge, advance, confirm_recovery, response_steps, write_review
from metrics.crises.log import get_crisis, list_crises, open_crisis_exists, record_scan
from metrics.crises.log_rows import CrisisLogError
from metrics.crises.model import CRISIS_TYPES, HANDLING_STEPS, DetectedCrisis
from pipelines.warehouse.store import connect

WEEK0 = date(2026, 1, 5)  # a Monday


def week(n: int) -> date:
    return WEEK0 + timedelta(weeks=n)


def scanned(n: int, hour: int = 9) -> datetime:
    """The scan made in the week after week n, once week n is complete."""
    return datetime(2026, 1, 12, hour, tzinfo=UTC) + timedelta(weeks=n)


def detected(
    segment: str = "all",
    severity: str = "minor",
    start: int = 0,
    last: int = 0,
    ongoing: bool = True,
    dimension: str = "overall",
    metric: str = "csat",
    grain: str = "week",
    type: str = "customer_satisfaction",
) -> DetectedCrisis:
    return DetectedCrisis(
        metric=metric,
        dimension=dimension,
        segment=segment,
        type=type,
        type_reason="sustained drift with no single bad day",
        severity=severity,
        severity_reason=f"{severity}: 3 of 4 segments below target",
        grain=grain,
        start=week(start) if grain == "week" else date(2026, 1 + start, 1),
        last_flagged=week(last) if grain == "week" else date(2026, 1 + last, 1),
        ongoing=ongoing,
        evidence={"value": 0.81, "target": 0.9, "period": week(last)},
        contributors=[{"segment": "team A", "share": 0.6}],
        signals=[{"rule": "ewma", "period": week(last)}],
    )


def snapshot(con) -> tuple:
    """Everything the crisis log holds, to compare before and after."""
    crises = con.sql("SELECT * FROM crises ORDER BY crisis_id").fetchall()
    events = con.sql("SELECT * FROM crisis_events ORDER BY event_id").fetchall()
    history = con.sql("SELECT * FROM crisis_severity_history ORDER BY crisis_id, period, recorded_at").fetchall()
    return crises, events, history


def actions(con, crisis_id: int) -> list[str]:
    return [e["action"] for e in get_crisis(con, crisis_id)["events"]]


def only_crisis_id(con) -> int:
    ids = list_crises(con)["crisis_id"].to_list()
    assert len(ids) == 1
    return ids[0]


# --------------------------------------------------------------------------------------- scans


def test_a_new_signal_opens_a_detected_crisis(con):
    counts = record_scan(con, [detected()], scanned(0))

    assert counts == {"opened": 1, "extended": 0, "recovery_proposed": 0, "escalated": 0}
    crisis = get_crisis(con, only_crisis_id(con))
    assert crisis["status"] == "detected" and crisis["is_open"]
    assert (crisis["start_period"], crisis["last_flagged"], crisis["end_period"]) == (week(0), week(0), None)
    assert crisis["evidence"] == {"value": 0.81, "target": 0.9, "period": "2026-01-05"}
    assert crisis["contributors"] == [{"segment": "team A", "share": 0.6}]
    assert crisis["owner"] is None and crisis["recovery_periods"] == 0
    assert crisis["created_at"] == scanned(0) == crisis["updated_at"]
    [event] = crisis["events"]
    assert (event["action"], event["actor"], event["to_value"], event["at"]) == (
        "detected",
        "radar",
        "detected",
        scanned(0),
    )
    assert [(h["period"], h["severity"]) for h in crisis["severity_history"]] == [(week(0), "minor")]
    assert open_crisis_exists(con, "csat", "overall", "all", "week")
    assert not open_crisis_exists(con, "csat", "overall", "all", "month")


def test_the_same_signal_next_scan_extends_the_crisis(con):
    record_scan(con, [detected(severity="minor")], scanned(0))
    counts = record_scan(con, [detected(severity="major", last=1)], scanned(1))

    assert counts == {"opened": 0, "extended": 1, "recovery_proposed": 0, "escalated": 0}
    crisis = get_crisis(con, only_crisis_id(con))
    assert (crisis["start_period"], crisis["last_flagged"], crisis["severity"]) == (week(0), week(1), "major")
    assert crisis["status"] == "detected"
    assert [e["action"] for e in crisis["events"]] == ["detected", "extended", "severity_changed"]
    extended, changed = crisis["events"][1:]
    assert (extended["from_value"], extended["to_value"]) == ("2026-01-05", "2026-01-12")
    assert (changed["from_value"], changed["to_value"], changed["note"]) == (
        "minor",
        "major",
        "major: 3 of 4 segments below target",
    )
    assert [(h["period"], h["severity"]) for h in crisis["severity_history"]] == [
        (week(0), "minor"),
        (week(1), "major"),
    ]
    assert crisis["updated_at"] == scanned(1) and crisis["created_at"] == scanned(0)


def test_extending_without_a_severity_change_writes_no_history(con):
    record_scan(con, [detected()], scanned(0))
    record_scan(con, [detected(last=1)], scanned(1))
    crisis = get_crisis(con, only_crisis_id(con))
    assert [e["action"] for e in crisis["events"]] == ["detected", "extended"]
    assert len(crisis["severity_history"]) == 1


def test_a_different_segment_opens_a_second_crisis(con):
    record_scan(con, [detected(segment="all")], scanned(0))
    counts = record_scan(con, [detected(segment="all", last=1), detected(dimension="team", segment="B")], scanned(1))

    assert counts == {"opened": 1, "extended": 1, "recovery_proposed": 0, "escalated": 0}
    crises = list_crises(con)
    assert crises.height == 2
    assert sorted(zip(crises["dimension"], crises["segment"], strict=True)) == [("overall", "all"), ("team", "B")]


def test_rerunning_the_same_scan_changes_nothing(con):
    scans = [
        ([detected()], scanned(0)),
        ([detected(severity="major", last=1), detected(segment="B", dimension="team", last=1)], scanned(1)),
        ([detected(segment="B", dimension="team", last=1, ongoing=False)], scanned(2)),
    ]
    for found, as_of in scans:
        record_scan(con, found, as_of)
        before = snapshot(con)
        # the same scan again, and again later in the same week: nothing new
        assert record_scan(con, found, as_of) == {"opened": 0, "extended": 0, "recovery_proposed": 0, "escalated": 0}
        assert record_scan(con, found, as_of + timedelta(hours=30)) == {
            "opened": 0,
            "extended": 0,
            "recovery_proposed": 0,
            "escalated": 0,
        }
        assert snapshot(con) == before
    assert list_crises(con).height == 2


def test_an_older_signal_does_not_move_a_crisis_back(con):
    record_scan(con, [detected(severity="major", last=2)], scanned(2))
    before = snapshot(con)
    assert record_scan(con, [detected(severity="minor", last=1)], scanned(2)) == {
        "opened": 0,
        "extended": 0,
        "recovery_proposed": 0,
        "escalated": 0,
    }
    assert snapshot(con) == before


def test_recovery_is_proposed_after_n_periods_without_the_signal_and_never_auto_resolved(con):
    record_scan(con, [detected()], scanned(0), recovery_periods_needed=3)
    crisis_id = only_crisis_id(con)

    for n in (1, 2):
        assert record_scan(con, [], scanned(n), recovery_periods_needed=3)["recovery_proposed"] == 0
        record_scan(con, [], scanned(n, hour=17), recovery_periods_needed=3)  # a second scan that week counts nothing
        crisis = get_crisis(con, crisis_id)
        assert crisis["recovery_periods"] == n and crisis["recovery_proposed_at"] is None

    assert record_scan(con, [], scanned(3), recovery_periods_needed=3) == {
        "opened": 0,
        "extended": 0,
        "recovery_proposed": 1,
        "escalated": 0,
    }
    crisis = get_crisis(con, crisis_id)
    assert crisis["recovery_periods"] == 3 and crisis["recovery_proposed_at"] == scanned(3)
    # off the open list, awaiting a person: neither open nor ended
    assert crisis["status"] == "recovered" and crisis["end_period"] is None and not crisis["is_open"]
    assert actions(con, crisis_id) == ["detected", "recovery_proposed"]
    event = crisis["events"][-1]
    assert (event["from_value"], event["to_value"]) == ("detected", "recovered")

    # later scans keep counting but propose only once, and still resolve nothing
    assert record_scan(con, [], scanned(4), recovery_periods_needed=3)["recovery_proposed"] == 0
    crisis = get_crisis(con, crisis_id)
    assert crisis["recovery_periods"] == 4 and crisis["status"] == "recovered"
    assert actions(con, crisis_id) == ["detected", "recovery_proposed"]


def test_a_signal_that_comes_back_starts_recovery_over(con):
    record_scan(con, [detected()], scanned(0))
    record_scan(con, [], scanned(1))
    record_scan(con, [], scanned(2))
    crisis_id = only_crisis_id(con)
    assert get_crisis(con, crisis_id)["recovery_proposed_at"] is not None

    counts = record_scan(con, [detected(start=3, last=3)], scanned(3))
    assert counts == {"opened": 0, "extended": 1, "recovery_proposed": 0, "escalated": 0}
    crisis = get_crisis(con, crisis_id)
    assert (crisis["recovery_periods"], crisis["recovery_proposed_at"], crisis["last_flagged"]) == (0, None, week(3))
    record_scan(con, [], scanned(4))
    assert get_crisis(con, crisis_id)["recovery_proposed_at"] is None


def test_a_crisis_the_detector_reports_as_over_counts_towards_recovery(con):
    record_scan(con, [detected()], scanned(0))
    record_scan(con, [detected(ongoing=False)], scanned(1))
    crisis = get_crisis(con, only_crisis_id(con))
    assert crisis["recovery_periods"] == 1 and crisis["last_flagged"] == week(0)


def test_recovery_counts_only_crises_at_the_scanned_grain(con):
    record_scan(con, [detected(grain="month")], datetime(2026, 2, 3, tzinfo=UTC))
    record_scan(con, [detected(segment="B", dimension="team")], scanned(0))
    monthly = list_crises(con).filter(grain="month")["crisis_id"][0]

    record_scan(con, [detected(segment="B", dimension="team", last=1)], scanned(1))  # a weekly scan
    record_scan(con, [], scanned(2), grain="week")
    assert get_crisis(con, monthly)["recovery_periods"] == 0


def test_a_scan_with_an_invalid_crisis_writes_nothing(con):
    record_scan(con, [detected()], scanned(0))
    before = snapshot(con)
    with pytest.raises(CrisisLogError, match="unknown severity 'disaster'"):
        record_scan(con, [detected(segment="B", last=1), detected(severity="disaster", last=1)], scanned(1))
    assert snapshot(con) == before


# --------------------------------------------------------------------------------------- handling


def test_confirm_recovery_sets_end_period_and_resolves(con):
    record_scan(con, [detected(last=1)], scanned(1))
    record_scan(con, [], scanned(2))
    record_scan(con, [], scanned(3))
    crisis_id = only_crisis_id(con)

    confirm_recovery(con, crisis_id, actor="maria")
    crisis = get_crisis(con, crisis_id)
    assert (crisis["status"], crisis["end_period"], crisis["is_open"]) == ("resolved", week(1), False)
    event = crisis["events"][-1]
    assert (event["action"], event["actor"], event["from_value"], event["to_value"]) == (
        "recovery_confirmed",
        "maria",
        "recovered",
        "resolved",
    )
    assert "ended 2026-01-12" in event["note"]
    # resolved stays resolved: later scans neither count nor propose anything
    before = snapshot(con)
    record_scan(con, [], scanned(4))
    assert snapshot(con) == before


def test_confirm_recovery_takes_an_explicit_end_period(con):
    record_scan(con, [detected(last=2)], scanned(2))
    crisis_id = only_crisis_id(con)
    confirm_recovery(con, crisis_id, actor="maria", end_period=week(3))
    assert get_crisis(con, crisis_id)["end_period"] == week(3)


def test_the_full_handling_path_writes_an_event_for_every_step(con):
    record_scan(con, [detected(type="service_quality")], scanned(0))
    crisis_id = only_crisis_id(con)
    t = datetime(2026, 1, 13, 10, tzinfo=UTC)

    acknowledge(con, crisis_id, owner="Li Wei", actor="maria", note="on it", at=t)
    assert get_crisis(con, crisis_id)["updated_at"] == t
    advance(con, crisis_id, "response_plan_active", actor="li", note="plan agreed", at=t + timedelta(hours=1))
    advance(con, crisis_id, "resolving", actor="li", at=t + timedelta(hours=2))
    advance(con, crisis_id, "resolved", actor="li", at=t + timedelta(days=7))
    write_review(
        con,
        crisis_id,
        actor="maria",
        fishbone_category="people",
        five_whys=["new agents on the queue", "no coaching plan", ""],
        actions_taken="coaching plan for new agents",
        review_text="Response times slipped when three new agents took the queue alone.",
        at=t + timedelta(days=8),
    )

    crisis = get_crisis(con, crisis_id)
    assert crisis["status"] == "reviewed" and not crisis["is_open"]
    assert crisis["owner"] == "Li Wei"
    assert crisis["end_period"] == week(0)  # resolved sets end_period from last_flagged
    assert crisis["fishbone_category"] == "people"
    assert crisis["five_whys"] == ["new agents on the queue", "no coaching plan"]
    assert crisis["actions_taken"] == "coaching plan for new agents"
    assert crisis["updated_at"] == t + timedelta(days=8)
    steps = [(e["action"], e["actor"], e["from_value"], e["to_value"]) for e in crisis["events"]]
    assert steps == [
        ("detected", "radar", None, "detected"),
        ("acknowledged", "maria", "detected", "acknowledged"),
        ("status_changed", "li", "acknowledged", "response_plan_active"),
        ("status_changed", "li", "response_plan_active", "resolving"),
        ("status_changed", "li", "resolving", "resolved"),
        ("reviewed", "maria", "resolved", "reviewed"),
    ]
    assert [e["to_value"] for e in crisis["events"]] == list(HANDLING_STEPS)
    assert crisis["events"][1]["note"] == "owner: Li Wei; on it"
    assert crisis["events"][2]["note"] == "plan agreed"


def _at(con, status: str) -> int:
    """A crisis brought to ``status`` along the normal path."""
    record_scan(con, [detected()], scanned(0))
    crisis_id = only_crisis_id(con)
    path = HANDLING_STEPS[1 : HANDLING_STEPS.index(status) + 1]
    for step in path:
        if step == "acknowledged":
            acknowledge(con, crisis_id, owner="Li Wei", actor="maria")
        elif step == "reviewed":
            write_review(con, crisis_id, "maria", "process", ["why"], "", "review")
        else:
            advance(con, crisis_id, step, actor="li")
    return crisis_id


REVIEW = {"fishbone_category": "process", "five_whys": ["hand-off lost"], "actions_taken": "", "review_text": "text"}
REFUSALS = {
    "acknowledge without owner": (
        "detected",
        lambda con, i: acknowledge(con, i, owner="", actor="maria"),
        "needs an owner to be acknowledged",
    ),
    "acknowledge with a blank owner": (
        "detected",
        lambda con, i: acknowledge(con, i, owner="   ", actor="maria"),
        "needs an owner",
    ),
    "acknowledged only through acknowledge": (
        "detected",
        lambda con, i: advance(con, i, "acknowledged", actor="li"),
        "acknowledged through acknowledge, which names an owner",
    ),
    "skip acknowledging": (
        "detected",
        lambda con, i: advance(con, i, "response_plan_active", actor="li"),
        r"is detected; its next step is acknowledged, it cannot skip to response_plan_active",
    ),
    "skip to resolved": (
        "acknowledged",
        lambda con, i: advance(con, i, "resolved", actor="li"),
        "is acknowledged; its next step is response_plan_active, it cannot skip to resolved",
    ),
    "go backwards": (
        "resolving",
        lambda con, i: advance(con, i, "response_plan_active", actor="li"),
        "is resolving; it cannot go back to response_plan_active",
    ),
    "acknowledge a resolved crisis": (
        "resolved",
        lambda con, i: acknowledge(con, i, owner="Li Wei", actor="maria"),
        r"is resolved; it cannot go back to acknowledged$",
    ),
    "same status again": (
        "response_plan_active",
        lambda con, i: advance(con, i, "response_plan_active", actor="li"),
        "is already response_plan_active",
    ),
    "unknown status": (
        "acknowledged",
        lambda con, i: advance(con, i, "closed", actor="li"),
        "unknown status 'closed'; expected one of detected, acknowledged",
    ),
    "reviewed only through write_review": (
        "resolved",
        lambda con, i: advance(con, i, "reviewed", actor="li"),
        "reviewed through write_review",
    ),
    "review before resolved": (
        "resolving",
        lambda con, i: write_review(con, i, "maria", **REVIEW),
        "is resolving; it can be reviewed only once resolved",
    ),
    "review twice": (
        "reviewed",
        lambda con, i: write_review(con, i, "maria", **REVIEW),
        "is already reviewed",
    ),
    "bad fishbone category": (
        "resolved",
        lambda con, i: write_review(con, i, "maria", **{**REVIEW, "fishbone_category": "weather"}),
        "unknown fishbone category 'weather'; expected one of people, process",
    ),
    "no why": (
        "resolved",
        lambda con, i: write_review(con, i, "maria", **{**REVIEW, "five_whys": ["", "  "]}),
        "needs at least one answer to 'why\\?'",
    ),
    "no review text": (
        "resolved",
        lambda con, i: write_review(con, i, "maria", **{**REVIEW, "review_text": " "}),
        "needs a review text",
    ),
    "confirm a resolved crisis": (
        "resolved",
        lambda con, i: confirm_recovery(con, i, actor="maria"),
        "is already resolved; there is no recovery to confirm",
    ),
    "end before the start": (
        "resolving",
        lambda con, i: confirm_recovery(con, i, actor="maria", end_period=week(-2)),
        "cannot end 2025-12-22, before it started 2026-01-05",
    ),
    "no actor": (
        "acknowledged",
        lambda con, i: advance(con, i, "response_plan_active", actor=""),
        "actor is required",
    ),
    "unknown crisis id (acknowledge)": (
        "detected",
        lambda con, i: acknowledge(con, i + 99, owner="Li Wei", actor="maria"),
        r"^crisis \d+ does not exist$",
    ),
    "unknown crisis id (advance)": (
        "acknowledged",
        lambda con, i: advance(con, i + 99, "response_plan_active", actor="li"),
        r"^crisis \d+ does not exist$",
    ),
    "unknown crisis id (confirm)": (
        "detected",
        lambda con, i: confirm_recovery(con, i + 99, actor="li"),
        r"^crisis \d+ does not exist$",
    ),
    "unknown crisis id (review)": (
        "resolved",
        lambda con, i: write_review(con, i + 99, "maria", **REVIEW),
        r"^crisis \d+ does not exist$",
    ),
    "crisis id that is not a number": (
        "detected",
        lambda con, i: get_crisis(con, "twelve"),
        "crisis id 'twelve' is not a number",
    ),
}


@pytest.mark.parametrize("case", sorted(REFUSALS))
def test_refusals_raise_a_one_line_error_and_change_nothing(con, case):
    status, call, message = REFUSALS[case]
    crisis_id = _at(con, status)
    before = snapshot(con)

    with pytest.raises(CrisisLogError, match=message) as refused:
        call(con, crisis_id)

    assert "\n" not in str(refused.value)
    assert snapshot(con) == before
    assert get_crisis(con, crisis_id)["status"] == status


def test_get_crisis_of_an_unknown_id(con):
    with pytest.raises(CrisisLogError, match="^crisis 12 does not exist$"):
        get_crisis(con, 12)


def test_a_new_signal_after_resolution_opens_a_new_crisis(con):
    record_scan(con, [detected(last=1)], scanned(1))
    first = only_crisis_id(con)
    confirm_recovery(con, first, actor="maria")

    # the detector still sees the old, closed episode: nothing new
    assert record_scan(con, [detected(last=1, ongoing=False)], scanned(2))["opened"] == 0
    # it flags the place again later: a new crisis, the old one stays resolved
    assert record_scan(con, [detected(start=0, last=4)], scanned(4))["opened"] == 1

    crises = list_crises(con)
    assert crises.height == 2
    second = crises["crisis_id"][0]
    assert second != first
    assert get_crisis(con, first)["status"] == "resolved"
    new = get_crisis(con, second)
    assert (new["status"], new["start_period"], new["last_flagged"]) == ("detected", week(2), week(4))
    assert actions(con, second) == ["detected"]


def test_the_log_survives_reopening_the_warehouse(db_path):
    con = connect(db_path)
    record_scan(con, [detected()], scanned(0))
    acknowledge(con, only_crisis_id(con), owner="Li Wei", actor="maria")
    con.close()

    con = connect(db_path)
    [row] = list_crises(con).to_dicts()
    assert (row["status"], row["owner"]) == ("acknowledged", "Li Wei")
    con.close()


# --------------------------------------------------------------------------------------- listing


def test_list_crises_filters_and_sorts_newest_first(con):
    record_scan(con, [detected(segment="A", dimension="team", severity="major")], scanned(0))
    record_scan(
        con,
        [detected(segment="B", dimension="team", start=1, last=1, type="sudden_event", metric="complaint_rate")],
        scanned(1),
    )
    record_scan(con, [detected(segment="C", dimension="team", start=2, last=2)], scanned(2))
    a, b, c = (list_crises(con).filter(segment=s)["crisis_id"][0] for s in "ABC")
    acknowledge(con, b, owner="Li Wei", actor="maria")
    confirm_recovery(con, a, actor="maria")

    everything = list_crises(con)
    assert everything["crisis_id"].to_list() == [c, b, a]
    assert everything["is_open"].to_list() == [True, True, False]
    assert isinstance(everything["evidence"][0], str)  # JSON columns stay JSON text
    assert list_crises(con, status="acknowledged")["crisis_id"].to_list() == [b]
    assert list_crises(con, status=["detected", "resolved"])["crisis_id"].to_list() == [c, a]
    assert list_crises(con, status=[]).height == 0
    assert list_crises(con, type="sudden_event")["crisis_id"].to_list() == [b]
    assert list_crises(con, severity="major")["crisis_id"].to_list() == [a]
    assert list_crises(con, open_only=True)["crisis_id"].to_list() == [c, b]
    assert list_crises(con, since=week(1))["crisis_id"].to_list() == [c, b]
    assert list_crises(con, since=week(0))["crisis_id"].to_list() == [c, b, a]
    assert list_crises(con, open_only=True, type="customer_satisfaction")["crisis_id"].to_list() == [c]
    for bad, message in ((dict(status="closed"), "unknown status"), (dict(type="x"), "unknown crisis type")):
        with pytest.raises(CrisisLogError, match=message):
            list_crises(con, **bad)


def test_an_empty_log_lists_an_empty_frame_with_the_columns(con):
    empty = list_crises(con)
    assert empty.height == 0
    assert {"crisis_id", "status", "is_open", "evidence", "five_whys"} <= set(empty.columns)


# --------------------------------------------------------------------------------------- response steps


@pytest.mark.parametrize("crisis_type", CRISIS_TYPES)
def test_response_steps_cover_every_crisis_type(crisis_type):
    steps = response_steps(crisis_type)
    assert 4 <= len(steps) <= 7
    assert all(isinstance(s, str) and s and s[0].isupper() and "\n" not in s for s in steps)


def test_response_steps_follow_the_domain():
    text = {t: " ".join(response_steps(t)).lower() for t in CRISIS_TYPES}
    assert "emergency plan" in text["sudden_event"] and "compensate" in text["sudden_event"]
    assert "public information" in text["sudden_event"]
    assert "coach" in text["service_quality"] and "sla" in text["service_quality"]
    assert "apologise" in text["communication_failure"] and "knowledge-base" in text["communication_failure"]
    assert "key accounts one-to-one" in text["customer_satisfaction"]
    assert "announcement" in text["customer_satisfaction"]
    with pytest.raises(CrisisLogError, match="unknown crisis type 'flood'"):
        response_steps("flood")
