"""An early warning of a slow slide in the crisis log: watched, then a crisis in the same row (issue 20).

Scans stand for the data's clock moving forward: every moment here is a scan's as-of.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta

import polars as pl

from metrics.crises.flag import episodes
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


def weekly_csat(flags: list[str]):
    """Product Hub's weekly CSAT as judged, per week: "" quiet, "w" an early warning, "c" a slide
    confirmed (a drift), "s" a spike (an event that begins in its own week)."""
    weeks = [date(2026, 3, 2) + timedelta(weeks=k) for k in range(len(flags))]
    return pl.DataFrame(
        {
            "metric": "csat",
            "dimension": "product",
            "segment": "Hub",
            "period_start": weeks,
            "z_adj": [6.0 if f == "s" else 1.0 for f in flags],
            "excess": 5.0,
            "ratio": 1.5,
            "spike": [f == "s" for f in flags],
            "drift": [f in ("w", "c") for f in flags],
            "p": 0.15,
            "p0": 0.10,
            "n": 120,
            "flagged": [f != "" for f in flags],
            "sustained": False,
            "early": [f == "w" for f in flags],
            "ramp_z": [{"": 1.0, "w": 2.0, "c": 5.0, "s": 3.0}[f] for f in flags],
        }
    )


def test_a_flickering_warning_does_not_date_the_crisis_that_follows():
    """A warning that went quiet for a week is over: the crisis after it starts at its own run, not
    months back at the first flicker (a held-out history lost a service-quality crisis that way).
    A slide watched and then confirmed is one run."""
    weeks = weekly_csat([""] * 7)["period_start"]
    found = episodes(weekly_csat(["w", "w", "w", "", "w", "c", "c"]), pl.DataFrame(), "week").sort("start")
    assert found.select("start", "last", "early", "confirmed").rows() == [
        (weeks[0], weeks[2], True, None),
        (weeks[4], weeks[6], False, weeks[5]),
    ]
    # A crisis's own quiet week still does not end it: one run from week 0 to week 4.
    crisis = episodes(weekly_csat(["c", "c", "", "c", "c"]), pl.DataFrame(), "week")
    assert crisis.select("start", "last").rows() == [(weeks[0], weeks[4])]
    # A warning watched without a break and then confirmed is one run, dated from the warning, even
    # when a spike confirms it (a real slide can have one outlying week).
    for confirmed_by in ("c", "s"):
        slide = episodes(weekly_csat(["w", "w", "w", confirmed_by]), pl.DataFrame(), "week")
        assert slide.select("start", "early", "confirmed").rows() == [(weeks[0], False, weeks[3])]
