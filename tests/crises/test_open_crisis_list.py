"""The open crisis list the Overview shows and the Crisis radar opens on: order, counts and the sidebar's filters.

On a real warehouse file whose log a few scans filled; the rows asserted are the ones a manager reads.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from metrics.crises.handling import acknowledge
from metrics.crises.log import record_scan
from metrics.kpis.scope import View
from metrics.kpis.settings import load_settings
from metrics.views import dashboard
from metrics.views.crisis_lists import most_severe_open
from tests.crises.test_crisis_log import detected, scanned, week

# (dimension, segment, severity, first flagged week, last flagged week); week 9 is the latest.
LOG = [
    ("channel", "email", "critical", 8, 9),
    ("team", "Billing", "critical", 2, 8),
    ("channel", "phone", "major", 7, 9),
    ("overall", "all", "minor", 9, 9),
    ("product", "Mobile Plan", "observe", 9, 9),
    ("region", "North", "critical", 0, 0),  # quiet since week 0: recovered, off the open list
]


@pytest.fixture
def logged(con):
    """The log after a scan in week 10 found every crisis of LOG but the one quiet since week 0."""
    quiet = detected(dimension="region", segment="North", severity="critical")
    record_scan(con, [quiet], scanned(0))
    found = [
        detected(dimension=d, segment=s, severity=level, start=first, last=last, ongoing=last == 9)
        for d, s, level, first, last in LOG[:-1]
    ]
    record_scan(con, found, scanned(9))
    ids = {
        (row["dimension"], row["segment"]): row["crisis_id"]
        for row in con.sql("SELECT dimension, segment, crisis_id FROM crises").pl().iter_rows(named=True)
    }
    return con, ids


def listed(con, view: View) -> list[str]:
    return dashboard.open_crisis_list(con, load_settings(), view)["where"].to_list()


def test_every_open_crisis_is_listed_most_severe_first_then_latest_flagged(logged):
    con, _ = logged
    rows = dashboard.open_crisis_list(con, load_settings(), View())
    assert rows["where"].to_list() == [
        "channel email",  # critical, flagged in week 9
        "team Billing",  # critical, flagged last in week 8
        "channel phone",
        "overall all",
        "product Mobile Plan",
    ]
    assert rows["last flagged"].to_list()[:2] == [week(9), week(8)]
    assert "region North" not in rows["where"].to_list()  # recovered: awaiting confirmation, not open
    counts = dashboard.open_crises_by_severity(con, load_settings(), View())
    assert counts == {"critical": 2, "major": 1, "minor": 1, "observe": 1}
    assert sum(counts.values()) == rows.height


def test_a_channel_filter_hides_the_other_channels_crises_and_keeps_the_rest(logged):
    con, _ = logged
    phone = View(segments=(("channel", ("phone",)),))
    assert listed(con, phone) == ["team Billing", "channel phone", "overall all", "product Mobile Plan"]
    assert sum(dashboard.open_crises_by_severity(con, load_settings(), phone).values()) == 4
    both = View(segments=(("channel", ("email", "phone")), ("product", ("Home Security",))))
    assert listed(con, both) == ["channel email", "team Billing", "channel phone", "overall all"]
    # The Crisis radar's log follows the same rule.
    table = dashboard.crisis_table(con, load_settings(), phone, None, None, None)
    assert "channel email" not in table["where"].to_list() and "channel phone" in table["where"].to_list()


def test_a_crisis_that_starts_after_the_chosen_dates_is_not_listed(logged):
    con, _ = logged
    until_week_5 = View(date_to=week(5) + timedelta(days=6))
    assert listed(con, until_week_5) == ["team Billing"]


def test_a_limited_manager_sees_only_their_segment_s_crises(logged):
    con, _ = logged
    assert listed(con, View(limit=(("channel", ("phone",)),))) == ["channel phone"]


def test_escalated_crises_carry_the_flag_the_badge_shows(con):
    record_scan(con, [detected(severity="major", dimension="team", segment="A")], scanned(0))
    # A week on: A (logged a week ago) is past a major's 72 hours; B is logged by this scan.
    found = [
        detected(severity="major", dimension="team", segment="A", last=1),
        detected(severity="major", dimension="team", segment="B", start=1, last=1),
    ]
    record_scan(con, found, scanned(1), acknowledge_within={"major": timedelta(hours=72)})
    rows = dashboard.open_crisis_list(con, load_settings(), View())
    assert rows.select("where", "severity", "escalated").rows() == [
        ("team A", "critical", True),
        ("team B", "major", False),
    ]


def test_the_radar_opens_on_the_most_severe_open_crisis(logged):
    con, ids = logged
    table = dashboard.crisis_table(con, load_settings(), View(), None, None, None)
    assert most_severe_open(table) == ids[("channel", "email")]
    acknowledge(con, ids[("channel", "email")], owner="Li Wei", actor="maria", at=scanned(9))
    table = dashboard.crisis_table(con, load_settings(), View(), ["recovered", "detected"], None, None)
    assert most_severe_open(table) == ids[("team", "Billing")]
    assert most_severe_open(table.filter(table["status"] == "recovered")) is None
