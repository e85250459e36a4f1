"""An early warning of a slow slide in the crisis log: watched, then a crisis in the same row (issue 20).

Scans stand for the data's clock moving forward: every moment here is a scan's as-of.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from metrics.crises.lifecycle import acknowledge_allowances
from metrics.crises.log import get_crisis, list_crises, record_scan
from tests.crises.test_crisis_log import detected, scanned

RULES = acknowledge_allowances()
WARNING = "early warning: a slow slide against its peers, ramp score z=2.6; a crisis when it reaches z=4.5"


def warning(last: int):
    """Product Hub's CSAT sliding since week 0, still only a warning at week ``last``."""
    return replace(
        detected(segment="Hub", dimension="product", severity="observe", last=last),
        severity_reason=WARNING,
        evidence={"early_warning": True, "confirmed": None},
    )


def test_a_warning_never_escalates_and_once_confirmed_its_clock_starts_then(con):
    """Watched for three weeks (a minor crisis would have escalated after 7 days), the slide is a
    minor crisis at week 3: the same crisis, its severity changed, and 7 days from then to act."""
    for n in range(3):
        record_scan(con, [warning(n)], scanned(n), acknowledge_within=RULES)
    [crisis_id] = list_crises(con, open_only=True)["crisis_id"].to_list()
    assert get_crisis(con, crisis_id)["severity"] == "observe"
    assert get_crisis(con, crisis_id)["escalated_at"] is None

    confirmed = detected(segment="Hub", dimension="product", severity="minor", last=3)
    assert record_scan(con, [confirmed], scanned(3), acknowledge_within=RULES)["escalated"] == 0
    crisis = get_crisis(con, crisis_id)
    assert (crisis["severity"], crisis["status"], crisis["escalated_at"]) == ("minor", "detected", None)
    assert crisis["raised_at"] == scanned(3)
    assert [e["action"] for e in crisis["events"]].count("severity_changed") == 1

    still = detected(segment="Hub", dimension="product", severity="minor", last=3)
    day_before = scanned(3) + RULES["minor"] - timedelta(hours=1)
    assert record_scan(con, [still], day_before, acknowledge_within=RULES)["escalated"] == 0
    assert record_scan(con, [still], scanned(3) + RULES["minor"], acknowledge_within=RULES)["escalated"] == 1
    assert get_crisis(con, crisis_id)["severity"] == "major"
