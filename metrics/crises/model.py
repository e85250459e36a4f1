"""What the crisis radar hands on: a detected crisis, before it is logged (data only, no logic)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

CRISIS_TYPES = ("service_quality", "communication_failure", "sudden_event", "customer_satisfaction")
SEVERITIES = ("observe", "minor", "major", "critical")
# The usual crisis window (``crises`` without --since, a load's history check): these days before the data's end.
RECENT_DAYS = 90
# The handling process of DOMAIN.md (seed 000, chapter 4), in order: the steps people take.
HANDLING_STEPS = ("detected", "acknowledged", "response_plan_active", "resolving", "resolved", "reviewed")
# Every status a crisis can have: the steps, plus "recovered", which only the radar sets (back inside
# limits for the rules' periods) and which waits for a person to confirm it (step 5: "confirm
# satisfaction recovered"). It is neither open (not on the open list) nor closed (a new flag reopens it).
STATUSES = ("detected", "acknowledged", "response_plan_active", "resolving", "recovered", "resolved", "reviewed")
FISHBONE_CATEGORIES = ("people", "process", "technology", "policy", "environment", "communication", "measurement")


@dataclass(frozen=True)
class DetectedCrisis:
    """One crisis as the detector sees it in this scan.

    ``metric``/``dimension``/``segment`` say where it sits (dimension "overall", segment "all" for
    the whole organisation); ``start`` is the first flagged period, ``last_flagged`` the latest,
    ``ongoing`` whether the latest complete period is still flagged, ``raised`` the period in
    which the radar first reported it (later than ``start`` when a rate must stay flagged for
    several periods before it counts).
    """

    metric: str
    dimension: str
    segment: str
    type: str
    type_reason: str
    severity: str
    severity_reason: str
    grain: str
    start: date
    last_flagged: date
    ongoing: bool
    raised: date | None = None
    evidence: dict = field(default_factory=dict)
    contributors: list[dict] = field(default_factory=list)
    signals: list[dict] = field(default_factory=list)
