"""The crises injected into the demo: their four kinds, where and when they are placed, how strong
they are, and the labels (``truth``) detectors are scored against.

One ``InjectedCrisis`` per crisis, placed at a seed-chosen segment and window; its effects on
tickets and surveys are applied by ``tickets`` and ``surveys`` through ``burst_shape`` and
``drift_points``. Draws come from the caller's generator in a fixed order.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import polars as pl

from pipelines.demo.organisation import CATEGORIES, CHANNELS, PRODUCTS, REGIONS, TEAMS

SERVICE_QUALITY = "service_quality"
COMMUNICATION_FAILURE = "communication_failure"
SUDDEN_EVENT = "sudden_event"
CUSTOMER_SATISFACTION = "customer_satisfaction"
CRISIS_KINDS = {
    # kind: (metric, dimension, segment labels)
    SERVICE_QUALITY: ("csat", "team", TEAMS),
    COMMUNICATION_FAILURE: ("complaint_rate", "channel", CHANNELS),
    SUDDEN_EVENT: ("complaint_volume", "region", REGIONS),
    CUSTOMER_SATISFACTION: ("csat", "product", PRODUCTS),
}
# Longest crises are placed first so that they still find room.
PLACEMENT_ORDER = (CUSTOMER_SATISFACTION, SERVICE_QUALITY, COMMUNICATION_FAILURE, SUDDEN_EVENT)
BASELINE_DAYS = 84  # detectors need a quiet history before the first crisis
QUIET_TAIL_DAYS = 7
SAME_SEGMENT_GAP_DAYS = 56  # keeps the weeks before a crisis free of an earlier one in that segment
SAME_KIND_GAP_DAYS = 7
MAX_CONCURRENT_CRISES = 2
PLACEMENT_ATTEMPTS = 300

TRUTH_SCHEMA = {
    "crisis_id": pl.String,
    "type": pl.String,
    "metric": pl.String,
    "dimension": pl.String,
    "segment": pl.String,
    "start": pl.Date,
    "end": pl.Date,
    "description": pl.String,
}


@dataclass(frozen=True)
class ServiceQualityParams:
    """A team serves worse: its tickets' times grow by these factors, and its attitude costs satisfaction."""

    response_factor: float
    resolution_factor: float
    reopen_factor: float
    attitude_logit: float  # satisfaction lost, on the logit scale


@dataclass(frozen=True)
class CommunicationFailureParams:
    """A channel misinforms: more complaints, more repeat contacts, worse attitude."""

    complaint_factor: float
    follow_up_probability: float
    attitude_logit: float


@dataclass(frozen=True)
class SuddenEventParams:
    """An outage or delivery failure in a region: a surge of tickets and complaints and a backlog."""

    volume_factor: float
    complaint_factor: float
    backlog_factor: float
    category: int  # index into CATEGORIES: what the surge of tickets is about


@dataclass(frozen=True)
class SatisfactionDriftParams:
    """A product's CSAT drifts down week by week, then recovers."""

    points_per_week: float
    decline_days: float
    recovery_days: float


CrisisParams = ServiceQualityParams | CommunicationFailureParams | SuddenEventParams | SatisfactionDriftParams


@dataclass
class InjectedCrisis:
    kind: str
    segment: int  # index into the labels of the kind's dimension
    start: int  # day index, inclusive
    end: int  # day index, inclusive
    params: CrisisParams  # the class that goes with ``kind``

    def days_in(self, day_index: np.ndarray) -> np.ndarray:
        return (day_index >= self.start) & (day_index <= self.end)


def place_crises(rng: np.random.Generator, days: int) -> list[InjectedCrisis]:
    """Place 2-3 crises of each kind at seed-chosen dates and segments, sorted by start."""
    per_kind = dict.fromkeys(PLACEMENT_ORDER, 3)
    for kind_index in rng.choice(len(PLACEMENT_ORDER), size=int(rng.integers(0, 3)), replace=False):
        per_kind[PLACEMENT_ORDER[kind_index]] = 2

    placed: list[InjectedCrisis] = []
    concurrent = np.zeros(days, dtype=np.int64)
    # Round by round, so a short history still gets one crisis of every kind before any second one.
    for round_number in range(3):
        for kind in PLACEMENT_ORDER:
            if per_kind[kind] <= round_number:
                continue
            crisis = _try_place(rng, kind, days, placed, concurrent)
            if crisis is not None:
                placed.append(crisis)
                concurrent[crisis.start : crisis.end + 1] += 1
    return sorted(placed, key=lambda c: (c.start, c.kind))


def _try_place(
    rng: np.random.Generator, kind: str, days: int, placed: list[InjectedCrisis], concurrent: np.ndarray
) -> InjectedCrisis | None:
    segment_count = len(CRISIS_KINDS[kind][2])
    for _ in range(PLACEMENT_ATTEMPTS):
        duration, params = _draw_crisis_params(rng, kind)
        latest_start = days - QUIET_TAIL_DAYS - duration
        if latest_start < BASELINE_DAYS:
            return None
        start = int(rng.integers(BASELINE_DAYS, latest_start + 1))
        candidate = InjectedCrisis(kind, int(rng.integers(segment_count)), start, start + duration - 1, params)
        if concurrent[candidate.start : candidate.end + 1].max() >= MAX_CONCURRENT_CRISES:
            continue
        if all(_compatible(candidate, other) for other in placed):
            return candidate
    return None


def _compatible(candidate: InjectedCrisis, other: InjectedCrisis) -> bool:
    def apart(gap: int) -> bool:
        return candidate.start > other.end + gap or other.start > candidate.end + gap

    same_segment = CRISIS_KINDS[candidate.kind][1] == CRISIS_KINDS[other.kind][1] and (
        candidate.segment == other.segment
    )
    if same_segment and not apart(SAME_SEGMENT_GAP_DAYS):
        return False
    if candidate.kind == other.kind and not apart(SAME_KIND_GAP_DAYS):
        return False
    # A sudden event floods the team that handles its category, whatever the region: keep it out of
    # a service-quality crisis and the weeks before it, which are that crisis's baseline.
    kinds = {candidate.kind, other.kind}
    if kinds == {SERVICE_QUALITY, SUDDEN_EVENT}:
        quality, event = (candidate, other) if candidate.kind == SERVICE_QUALITY else (other, candidate)
        return event.end < quality.start - SAME_SEGMENT_GAP_DAYS or event.start > quality.end
    return True


def _draw_crisis_params(rng: np.random.Generator, kind: str) -> tuple[int, CrisisParams]:
    """Duration in days and effect sizes of one crisis of ``kind``, drawn in the order written."""
    if kind == SERVICE_QUALITY:
        duration = int(rng.integers(21, 43))
        return duration, ServiceQualityParams(
            response_factor=float(rng.uniform(4.0, 6.0)),
            resolution_factor=float(rng.uniform(1.2, 1.5)),
            reopen_factor=float(rng.uniform(2.5, 3.5)),
            attitude_logit=float(rng.uniform(0.4, 0.6)),
        )
    if kind == COMMUNICATION_FAILURE:
        duration = int(rng.integers(14, 36))
        return duration, CommunicationFailureParams(
            complaint_factor=float(rng.uniform(2.0, 3.0)),
            follow_up_probability=float(rng.uniform(0.18, 0.28)),
            attitude_logit=float(rng.uniform(0.3, 0.5)),
        )
    if kind == SUDDEN_EVENT:
        duration = int(rng.integers(3, 8))
        return duration, SuddenEventParams(
            volume_factor=float(rng.uniform(2.0, 4.0)),
            complaint_factor=float(rng.uniform(4.5, 8.0)),
            backlog_factor=float(rng.uniform(5.0, 9.0)),
            category=int(rng.choice([CATEGORIES.index("delivery delay"), CATEGORIES.index("technical fault")])),
        )
    decline_weeks = int(rng.integers(8, 13))
    recovery_days = int(rng.integers(14, 22))
    return decline_weeks * 7 + recovery_days, SatisfactionDriftParams(
        points_per_week=float(rng.uniform(1.0, 1.5)),
        decline_days=float(decline_weeks * 7),
        recovery_days=float(recovery_days),
    )


def burst_shape(crisis: InjectedCrisis, day_index: np.ndarray) -> np.ndarray:
    """Sudden-event intensity per day: full for the first half, then fading to about 40%."""
    duration = crisis.end - crisis.start + 1
    offset = day_index - crisis.start
    full_days = (duration + 1) // 2
    fading = 1.0 - 0.6 * (offset - full_days + 1) / max(duration - full_days, 1)
    shape = np.where(offset < full_days, 1.0, fading)
    return np.where(crisis.days_in(day_index), shape, 0.0)


def drift_points(crisis: InjectedCrisis, day_index: np.ndarray) -> np.ndarray:
    """Customer-satisfaction drift in CSAT points: a steady decline, then a linear recovery."""
    decline_days = crisis.params.decline_days
    recovery_days = crisis.params.recovery_days
    offset = (day_index - crisis.start + 1).astype(np.float64)
    trough = crisis.params.points_per_week * decline_days / 7.0
    declining = crisis.params.points_per_week * offset / 7.0
    recovering = trough * (1.0 - (offset - decline_days) / (recovery_days + 1.0))
    points = np.where(offset <= decline_days, declining, recovering)
    return np.where(crisis.days_in(day_index), points, 0.0)


def _describe(crisis: InjectedCrisis) -> str:
    p = crisis.params
    label = CRISIS_KINDS[crisis.kind][2][crisis.segment]
    if crisis.kind == SERVICE_QUALITY:
        return (
            f"{label} team: first responses {p.response_factor:.1f}x slower, resolutions "
            f"{p.resolution_factor:.1f}x slower, reopen rate {p.reopen_factor:.1f}x; CSAT falls"
        )
    if crisis.kind == COMMUNICATION_FAILURE:
        return (
            f"{label} channel: complaints about wrong information and staff attitude push the complaint "
            f"rate to {p.complaint_factor:.1f}x normal; repeat contacts within 7 days rise"
        )
    if crisis.kind == SUDDEN_EVENT:
        category = CATEGORIES[p.category]
        cause = "Delivery system failure" if category == "delivery delay" else "System outage"
        return (
            f"{cause} in {label}: tickets up to {p.volume_factor:.1f}x and complaints up to "
            f"{p.complaint_factor:.1f}x for {crisis.end - crisis.start + 1} days, mostly {category}; "
            "first responses collapse"
        )
    weeks = int(p.decline_days) // 7
    return (
        f"{label}: CSAT drifts down {p.points_per_week:.1f} points a week for {weeks} weeks, "
        f"then recovers over {int(p.recovery_days)} days"
    )


def truth_frame(crises: list[InjectedCrisis], first_day: date) -> pl.DataFrame:
    rows = [
        {
            "crisis_id": f"CR-{number:02d}",
            "type": crisis.kind,
            "metric": CRISIS_KINDS[crisis.kind][0],
            "dimension": CRISIS_KINDS[crisis.kind][1],
            "segment": CRISIS_KINDS[crisis.kind][2][crisis.segment],
            "start": first_day + timedelta(days=crisis.start),
            "end": first_day + timedelta(days=crisis.end),
            "description": _describe(crisis),
        }
        for number, crisis in enumerate(crises, start=1)
    ]
    return pl.DataFrame(rows, schema=TRUTH_SCHEMA)


def of_kind(crises: list[InjectedCrisis], kind: str) -> list[InjectedCrisis]:
    return [c for c in crises if c.kind == kind]
