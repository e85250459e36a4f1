"""The radar's rules: crisis_rules.toml read once, and the names every step of a scan shares.

Grain: one set of rules per process. The groups of metric names below say which signals
speak to which kind of crisis; the thresholds, typing rules and severity grading are data
in crisis_rules.toml.
"""

from __future__ import annotations

import tomllib
from datetime import timedelta
from functools import cache
from pathlib import Path

RULES_FILE = Path(__file__).parent / "crisis_rules.toml"
# The key of one scanned series: a watched metric in one segment of one dimension.
KEYS = ["metric", "dimension", "segment"]
STEP = {"week": timedelta(days=7), "day": timedelta(days=1)}
EVERY = {"week": "1w", "day": "1d"}

COMPLAINT_SIGNALS = ("complaint_rate", "complaint_volume", "communication_complaint_rate")
SLOWDOWN_SIGNALS = ("first_response_median", "first_response_p90", "resolution_median", "resolution_p90", "backlog_age")
# Signals a flood of work drags along: they echo a sudden event rather than stand on their own.
LOAD_SIGNALS = {"first_response_sla", "reopen_rate", "complaint_resolution_sla", "first_contact_resolution"}.union(
    SLOWDOWN_SIGNALS
)
# The signal that speaks for a crisis of each type, first found in the cluster wins.
PRIMARY = {
    "sudden_event": ("complaint_volume", "ticket_volume", "complaint_rate", "first_response_sla"),
    "service_quality": ("first_response_sla", "reopen_rate", "csat", "first_contact_resolution", *SLOWDOWN_SIGNALS),
    "communication_failure": (
        "complaint_rate",
        "communication_complaint_rate",
        "complaint_volume",
    ),
    "customer_satisfaction": ("csat",),
}


@cache
def rules() -> dict:
    """The radar's rules from crisis_rules.toml."""
    return tomllib.loads(RULES_FILE.read_text(encoding="utf-8"))


def scanned_metric(name: str) -> dict:
    """The scan rule of one watched metric (``KeyError`` when the radar does not watch it)."""
    for spec in rules()["scan"]["metrics"]:
        if spec["metric"] == name:
            return spec
    raise KeyError(name)


def slide_thresholds(grain: str) -> dict:
    """The thresholds that judge slow slides in a scan at ``grain``, with the grain they are scored at.

    A grain whose rules say ``slide_by = "week"`` judges slides on its calendar weeks, by the
    weekly thresholds (see flag.with_ramp); any other judges them on its own periods.
    """
    limits = rules()["thresholds"][grain]
    by = limits.get("slide_by", grain)
    judged = {**rules()["thresholds"][by], "grain": by}
    if not limits.get("slide_warnings", True):  # crises only: the warnings are the weekly scan's
        judged.pop("slide_watch_z", None)
    return judged
