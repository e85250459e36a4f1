"""Seeded demo data: a service organisation's tickets, surveys and complaints, with known crises.

Every random draw comes from one ``numpy.random.Generator`` in a fixed order, so a seed always
gives identical frames. Work is vectorised over tickets; the only Python loops run over crises
and over the few days of a sudden event.

The normal organisation meets its targets most of the time (about 90% of inquiries answered
within an hour, CSAT around 91-92%, about 4% of tickets complaints). On top of it the generator
injects the four crisis types of ``DOMAIN.md``, each confined to one segment and a known
window, and returns them as ``truth`` so detectors can be scored against it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import numpy as np
import polars as pl

from pipelines.warehouse.schema import COMPLAINTS, SURVEYS, TICKETS

# --- The organisation --------------------------------------------------------------------------

CHANNELS = ("email", "phone", "chat", "web", "social")
CHANNEL_SHARE = np.array([0.30, 0.25, 0.25, 0.12, 0.08])
# Live channels answer within minutes; queued channels take about half an hour at normal load.
CHANNEL_RESPONSE_MEDIAN_MINUTES = np.array([30.0, 2.0, 2.5, 22.0, 15.0])
CHANNEL_RESPONSE_SIGMA = np.array([1.0, 1.1, 1.1, 1.0, 1.0])
CHANNEL_COMPLAINT_FACTOR = np.array([1.0, 1.1, 0.8, 0.9, 1.5])

CATEGORIES = (
    "billing",
    "delivery delay",
    "technical fault",
    "account access",
    "product information",
    "refund",
)
CATEGORY_SHARE = np.array([0.20, 0.17, 0.20, 0.15, 0.18, 0.10])
CATEGORY_RESOLUTION_MEDIAN_HOURS = np.array([4.0, 24.0, 8.0, 1.5, 0.5, 30.0])
CATEGORY_COMPLAINT_FACTOR = np.array([1.1, 1.5, 1.2, 0.8, 0.5, 1.3])

TEAMS = ("Billing", "Technical", "Logistics", "Accounts", "Onboarding")
CATEGORY_TEAM = np.array([0, 2, 1, 3, 4, 0])  # index into TEAMS for each of CATEGORIES
AGENTS_PER_TEAM = np.array([12, 8, 7, 6, 7])
AGENT_NAMES = (
    "Alice Moreau", "Ben Okafor", "Chloe Tan", "Daniel Weber", "Elena Rossi", "Farid Haddad",
    "Grace Liu", "Hugo Martin", "Isla Byrne", "Jonas Berg", "Keiko Sato", "Liam Walsh",
    "Maya Patel", "Nikolai Petrov", "Olivia Grant", "Pedro Alves", "Quinn Harper", "Rosa Jimenez",
    "Samuel Adeyemi", "Tara Nolan", "Umar Siddiqui", "Vera Novak", "William Chen", "Xenia Popova",
    "Yusuf Demir", "Zoe Fischer", "Aaron Blake", "Bianca Costa", "Carlos Mendes", "Dana Levi",
    "Erik Lund", "Fatima Zahra", "George Owens", "Hannah Kim", "Ivan Horvat", "Julia Schmidt",
    "Kofi Mensah", "Laura Dubois", "Mateo Garcia", "Nora Lindqvist",
)  # fmt: skip

PRODUCTS = ("Home Broadband", "Mobile Plan", "Streaming TV", "Smart Home Hub", "Home Security")
PRODUCT_SHARE = np.array([0.30, 0.26, 0.18, 0.14, 0.12])

REGIONS = ("East", "West", "North", "South", "Central")
REGION_SHARE = np.array([0.25, 0.20, 0.15, 0.22, 0.18])

PRIORITIES = ("low", "normal", "high", "urgent")
PRIORITY_SHARE = np.array([0.22, 0.55, 0.18, 0.05])
PRIORITY_RESPONSE_FACTOR = np.array([1.3, 1.0, 0.7, 0.4])

TIERS = ("standard", "key_account")
KEY_ACCOUNT_SHARE = 0.10

COMPLAINT_CAUSES = (
    "delivery delay", "wrong information", "staff attitude",
    "billing error", "product fault", "slow response",
)  # fmt: skip
DELIVERY_DELAY, WRONG_INFORMATION, STAFF_ATTITUDE, BILLING_ERROR, PRODUCT_FAULT, SLOW_RESPONSE = range(6)
# The cause a complaint about each ticket category usually has (-1: no typical cause).
CATEGORY_COMPLAINT_CAUSE = np.array([BILLING_ERROR, DELIVERY_DELAY, PRODUCT_FAULT, -1, -1, BILLING_ERROR])
SEVERITIES = ("low", "medium", "high")

COMPLAINT_TEMPLATES = {
    DELIVERY_DELAY: (
        "My {product} order still has not arrived after the promised date.",
        "The {product} delivery was delayed twice and nobody told me why.",
        "I have been waiting more than a week for my {product} delivery.",
    ),
    WRONG_INFORMATION: (
        "The agent gave me wrong information about my {product} plan.",
        "I was told my {product} issue was fixed, but it was not.",
        "Two agents gave me different answers about {product}.",
    ),
    STAFF_ATTITUDE: (
        "The agent was rude and did not listen to my {product} problem.",
        "I felt dismissed when I contacted you about my {product}.",
        "The staff member was impatient and unhelpful.",
    ),
    BILLING_ERROR: (
        "I was charged twice for my {product} subscription.",
        "My {product} bill is higher than the price I agreed to.",
        "A refund for {product} was promised but never arrived.",
    ),
    PRODUCT_FAULT: (
        "My {product} keeps failing and support cannot fix it.",
        "The {product} stopped working after the last update.",
        "The {product} service has been down for days.",
    ),
    SLOW_RESPONSE: (
        "Nobody replied to my {product} request for hours.",
        "I waited far too long for an answer about {product}.",
        "I had to chase support three times before anyone answered.",
    ),
}
POSITIVE_COMMENTS = (
    "Quick and friendly help, thank you.",
    "Problem solved on the first contact.",
    "Very clear explanation.",
    "Great service as always.",
)
NEGATIVE_COMMENTS = (
    "Took far too long to get an answer.",
    "I had to explain my problem several times.",
    "The issue is still not fixed.",
    "The agent did not seem to understand my problem.",
    "Nobody told me what was going on.",
)

TICKET_ATTRIBUTES = (None, {"language": "en"}, {"language": "en", "source": "web_form"}, {"language": "es"})
TICKET_ATTRIBUTE_SHARE = np.array([0.30, 0.45, 0.15, 0.10])
SURVEY_ATTRIBUTES = (None, {"survey_tool": "Qualtrics"}, {"survey_tool": "Qualtrics", "device": "mobile"})
SURVEY_ATTRIBUTE_SHARE = np.array([0.40, 0.35, 0.25])
COMPLAINT_ATTRIBUTES = (None, {"escalated": False}, {"escalated": True, "handled_by": "supervisor"})

# --- Volume and service levels -----------------------------------------------------------------

BASE_DAILY_TICKETS = 300.0
YEARLY_GROWTH = 1.10
WEEKDAY_FACTOR = np.array([1.18, 1.12, 1.08, 1.05, 1.00, 0.62, 0.50])  # Monday first
# Where in the day customers write, in UTC hours.
HOUR_WEIGHTS = np.array(
    [0.3, 0.2, 0.15, 0.15, 0.2, 0.4, 0.9, 1.8, 3.0, 3.6, 3.7, 3.5,
     3.3, 3.4, 3.5, 3.3, 3.0, 2.6, 2.2, 1.9, 1.6, 1.2, 0.8, 0.5]
)  # fmt: skip
LOAD_ELASTICITY = 1.3  # how much slower first responses get as the day's load rises
AGENT_SPEED_SIGMA = 0.2
AGENT_SATISFACTION_SIGMA = 0.25

BASE_COMPLAINT_PROBABILITY = 0.032
SLOW_RESPONSE_COMPLAINT_FACTOR = 1.7
COMPLAINT_RESOLUTION_MEDIAN_HOURS = 4.5
RESOLUTION_SIGMA = 1.2
REOPEN_PROBABILITY = 0.05
CLOSE_DELAY_MEDIAN_HOURS = 60.0
BASE_FOLLOW_UP_PROBABILITY = 0.04

SURVEY_RESPONSE_PROBABILITY = 0.30
NPS_SHARE = 0.08
SERVQUAL_SHARE = 0.5
SERVQUAL_COLUMNS = ("dim_tangibles", "dim_reliability", "dim_responsiveness", "dim_assurance", "dim_empathy")
# Logit of satisfaction for a ticket answered within the hour and solved within a day.
SATISFACTION_BASE_LOGIT = 2.75

SLA_MINUTES = 60.0
MICROS_PER_MINUTE = 60_000_000
MICROS_PER_HOUR = 60 * MICROS_PER_MINUTE
MICROS_PER_DAY = 24 * MICROS_PER_HOUR

# --- Crises ------------------------------------------------------------------------------------

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
class DemoData:
    """Generated demo tables plus the crises injected into them."""

    tickets: pl.DataFrame
    surveys: pl.DataFrame
    complaints: pl.DataFrame
    truth: pl.DataFrame


@dataclass
class _Crisis:
    kind: str
    segment: int  # index into the labels of the kind's dimension
    start: int  # day index, inclusive
    end: int  # day index, inclusive
    params: dict[str, float]

    def days_in(self, day_index: np.ndarray) -> np.ndarray:
        return (day_index >= self.start) & (day_index <= self.end)


def generate(
    seed: int = 7,
    end: date = date(2026, 11, 15),
    days: int = 728,
    inject_crises: bool = True,
    daily_tickets: float = BASE_DAILY_TICKETS,
) -> DemoData:
    """Generate a service organisation's tickets, surveys and complaints for ``days`` days up to ``end``.

    ``daily_tickets`` sets the organisation's size (the demo's 300 a day give about 220,000
    tickets in two years; the benchmarks scale it to millions).

    The same ``seed`` gives identical frames. With ``inject_crises`` the data carries 10-12 crises
    of the four types in ``DOMAIN.md`` (fewer when ``days`` is short), none in the first 12 weeks,
    described one per row in ``truth``.
    """
    rng = np.random.default_rng(seed)
    first_day = end - timedelta(days=days - 1)
    crises = _place_crises(rng, days) if inject_crises else []

    first_micros = int(datetime.combine(first_day, datetime.min.time(), tzinfo=UTC).timestamp()) * 1_000_000
    cutoff = first_micros + days * MICROS_PER_DAY  # the export is taken at midnight after `end`

    tickets = _simulate_tickets(rng, first_day, days, crises, first_micros, cutoff, daily_tickets)
    surveys = _simulate_surveys(rng, tickets, crises, cutoff)
    return DemoData(
        tickets=_tickets_frame(rng, tickets),
        surveys=_surveys_frame(rng, surveys),
        complaints=_complaints_frame(rng, tickets),
        truth=_truth_frame(crises, first_day),
    )


# --- Crisis placement --------------------------------------------------------------------------


def _place_crises(rng: np.random.Generator, days: int) -> list[_Crisis]:
    """Place 2-3 crises of each kind at seed-chosen dates and segments, sorted by start."""
    per_kind = dict.fromkeys(PLACEMENT_ORDER, 3)
    for kind_index in rng.choice(len(PLACEMENT_ORDER), size=int(rng.integers(0, 3)), replace=False):
        per_kind[PLACEMENT_ORDER[kind_index]] = 2

    placed: list[_Crisis] = []
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
    rng: np.random.Generator, kind: str, days: int, placed: list[_Crisis], concurrent: np.ndarray
) -> _Crisis | None:
    segment_count = len(CRISIS_KINDS[kind][2])
    for _ in range(PLACEMENT_ATTEMPTS):
        duration, params = _draw_crisis_params(rng, kind)
        latest_start = days - QUIET_TAIL_DAYS - duration
        if latest_start < BASELINE_DAYS:
            return None
        start = int(rng.integers(BASELINE_DAYS, latest_start + 1))
        candidate = _Crisis(kind, int(rng.integers(segment_count)), start, start + duration - 1, params)
        if concurrent[candidate.start : candidate.end + 1].max() >= MAX_CONCURRENT_CRISES:
            continue
        if all(_compatible(candidate, other) for other in placed):
            return candidate
    return None


def _compatible(candidate: _Crisis, other: _Crisis) -> bool:
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


def _draw_crisis_params(rng: np.random.Generator, kind: str) -> tuple[int, dict[str, float]]:
    """Duration in days and effect sizes of one crisis of ``kind``."""
    if kind == SERVICE_QUALITY:
        duration = int(rng.integers(21, 43))
        return duration, {
            "response_factor": float(rng.uniform(4.0, 6.0)),
            "resolution_factor": float(rng.uniform(1.2, 1.5)),
            "reopen_factor": float(rng.uniform(2.5, 3.5)),
            "attitude_logit": float(rng.uniform(0.4, 0.6)),
        }
    if kind == COMMUNICATION_FAILURE:
        duration = int(rng.integers(14, 36))
        return duration, {
            "complaint_factor": float(rng.uniform(2.0, 3.0)),
            "follow_up_probability": float(rng.uniform(0.18, 0.28)),
            "attitude_logit": float(rng.uniform(0.3, 0.5)),
        }
    if kind == SUDDEN_EVENT:
        duration = int(rng.integers(3, 8))
        return duration, {
            "volume_factor": float(rng.uniform(2.0, 4.0)),
            "complaint_factor": float(rng.uniform(4.5, 8.0)),
            "backlog_factor": float(rng.uniform(5.0, 9.0)),
            "category": float(rng.choice([CATEGORIES.index("delivery delay"), CATEGORIES.index("technical fault")])),
        }
    decline_weeks = int(rng.integers(8, 13))
    recovery_days = int(rng.integers(14, 22))
    return decline_weeks * 7 + recovery_days, {
        "points_per_week": float(rng.uniform(1.0, 1.5)),
        "decline_days": float(decline_weeks * 7),
        "recovery_days": float(recovery_days),
    }


def _burst_shape(crisis: _Crisis, day_index: np.ndarray) -> np.ndarray:
    """Sudden-event intensity per day: full for the first half, then fading to about 40%."""
    duration = crisis.end - crisis.start + 1
    offset = day_index - crisis.start
    full_days = (duration + 1) // 2
    fading = 1.0 - 0.6 * (offset - full_days + 1) / max(duration - full_days, 1)
    shape = np.where(offset < full_days, 1.0, fading)
    return np.where(crisis.days_in(day_index), shape, 0.0)


def _drift_points(crisis: _Crisis, day_index: np.ndarray) -> np.ndarray:
    """Customer-satisfaction drift in CSAT points: a steady decline, then a linear recovery."""
    decline_days = crisis.params["decline_days"]
    recovery_days = crisis.params["recovery_days"]
    offset = (day_index - crisis.start + 1).astype(np.float64)
    trough = crisis.params["points_per_week"] * decline_days / 7.0
    declining = crisis.params["points_per_week"] * offset / 7.0
    recovering = trough * (1.0 - (offset - decline_days) / (recovery_days + 1.0))
    points = np.where(offset <= decline_days, declining, recovering)
    return np.where(crisis.days_in(day_index), points, 0.0)


def _describe(crisis: _Crisis) -> str:
    p = crisis.params
    label = CRISIS_KINDS[crisis.kind][2][crisis.segment]
    if crisis.kind == SERVICE_QUALITY:
        return (
            f"{label} team: first responses {p['response_factor']:.1f}x slower, resolutions "
            f"{p['resolution_factor']:.1f}x slower, reopen rate {p['reopen_factor']:.1f}x; CSAT falls"
        )
    if crisis.kind == COMMUNICATION_FAILURE:
        return (
            f"{label} channel: complaints about wrong information and staff attitude push the complaint "
            f"rate to {p['complaint_factor']:.1f}x normal; repeat contacts within 7 days rise"
        )
    if crisis.kind == SUDDEN_EVENT:
        category = CATEGORIES[int(p["category"])]
        cause = "Delivery system failure" if category == "delivery delay" else "System outage"
        return (
            f"{cause} in {label}: tickets up to {p['volume_factor']:.1f}x and complaints up to "
            f"{p['complaint_factor']:.1f}x for {crisis.end - crisis.start + 1} days, mostly {category}; "
            "first responses collapse"
        )
    weeks = int(p["decline_days"]) // 7
    return (
        f"{label}: CSAT drifts down {p['points_per_week']:.1f} points a week for {weeks} weeks, "
        f"then recovers over {int(p['recovery_days'])} days"
    )


def _truth_frame(crises: list[_Crisis], first_day: date) -> pl.DataFrame:
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


def _of_kind(crises: list[_Crisis], kind: str) -> list[_Crisis]:
    return [c for c in crises if c.kind == kind]


# --- Tickets -----------------------------------------------------------------------------------


def _expected_daily_volume(
    first_day: date, days: int, daily_tickets: float = BASE_DAILY_TICKETS
) -> tuple[np.ndarray, np.ndarray]:
    """Expected tickets per day, and the part of it that staffing plans for (no seasonal peaks)."""
    day_numbers = np.arange(days)
    dates = np.array([first_day + timedelta(days=int(d)) for d in day_numbers])
    weekday = WEEKDAY_FACTOR[[d.weekday() for d in dates]] / WEEKDAY_FACTOR.mean()
    day_of_year = np.array([d.timetuple().tm_yday for d in dates], dtype=np.float64)

    def seasonal_bump(centre: float, width: float) -> np.ndarray:
        distance = np.abs(day_of_year - centre)
        distance = np.minimum(distance, 365.0 - distance)
        return np.exp(-((distance / width) ** 2))

    season = 1.0 + 0.22 * seasonal_bump(340.0, 24.0) - 0.14 * seasonal_bump(205.0, 30.0)
    growth = YEARLY_GROWTH ** ((day_numbers - days / 2) / 365.0)
    staffed = daily_tickets * weekday * growth
    return staffed * season, staffed


def _simulate_tickets(
    rng: np.random.Generator,
    first_day: date,
    days: int,
    crises: list[_Crisis],
    first_micros: int,
    cutoff: int,
    daily_tickets: float = BASE_DAILY_TICKETS,
) -> dict[str, np.ndarray]:
    """Draw every ticket as parallel arrays, with crisis effects applied."""
    expected, staffed = _expected_daily_volume(first_day, days, daily_tickets)
    day_noise = rng.gamma(shape=400.0, scale=1.0 / 400.0, size=days)  # about 5% day-to-day wobble
    daily_counts = rng.poisson(expected * day_noise)

    customer_count = max(2_000, int(expected.sum() / 5))
    customer_activity = rng.lognormal(0.0, 0.9, customer_count)
    customer_region = rng.choice(len(REGIONS), size=customer_count, p=REGION_SHARE)
    customer_tier = (rng.random(customer_count) < KEY_ACCOUNT_SHARE).astype(np.int64)

    day_index = np.repeat(np.arange(days), daily_counts)
    customer = rng.choice(customer_count, size=day_index.size, p=customer_activity / customer_activity.sum())
    forced_category = np.full(day_index.size, -1)

    burst_days, burst_customers, burst_categories = [day_index], [customer], [forced_category]
    for crisis in _of_kind(crises, SUDDEN_EVENT):
        region_customers = np.flatnonzero(customer_region == crisis.segment)
        region_weights = customer_activity[region_customers] / customer_activity[region_customers].sum()
        event_days = np.arange(crisis.start, crisis.end + 1)
        shape = _burst_shape(crisis, event_days)
        extra_expected = expected[event_days] * REGION_SHARE[crisis.segment] * (crisis.params["volume_factor"] - 1)
        extra_counts = rng.poisson(extra_expected * shape)
        extra_days = np.repeat(event_days, extra_counts)
        burst_days.append(extra_days)
        burst_customers.append(rng.choice(region_customers, size=extra_days.size, p=region_weights))
        on_topic = rng.random(extra_days.size) < 0.8
        burst_categories.append(np.where(on_topic, int(crisis.params["category"]), -1))
    day_index = np.concatenate(burst_days)
    customer = np.concatenate(burst_customers)
    forced_category = np.concatenate(burst_categories)

    n = day_index.size
    category = rng.choice(len(CATEGORIES), size=n, p=CATEGORY_SHARE)
    category = np.where(forced_category >= 0, forced_category, category)
    hour = rng.choice(24, size=n, p=HOUR_WEIGHTS / HOUR_WEIGHTS.sum())
    created = (
        first_micros + day_index * MICROS_PER_DAY + hour * MICROS_PER_HOUR + rng.integers(0, MICROS_PER_HOUR, size=n)
    )
    tickets = {
        "day": day_index,
        "created": created,
        "customer": customer,
        "category": category,
        "channel": rng.choice(len(CHANNELS), size=n, p=CHANNEL_SHARE),
        "product": rng.choice(len(PRODUCTS), size=n, p=PRODUCT_SHARE),
        "priority": rng.choice(len(PRIORITIES), size=n, p=PRIORITY_SHARE),
    }
    tickets = _add_follow_ups(rng, tickets, crises, first_micros, cutoff)
    order = np.argsort(tickets["created"], kind="stable")
    tickets = {name: values[order] for name, values in tickets.items()}
    tickets["region"] = customer_region[tickets["customer"]]
    tickets["tier"] = customer_tier[tickets["customer"]]

    _assign_handlers(rng, tickets)
    daily_load = np.bincount(tickets["day"], minlength=days) / staffed
    _simulate_service(rng, tickets, crises, daily_load, cutoff)
    return tickets


def _add_follow_ups(
    rng: np.random.Generator,
    tickets: dict[str, np.ndarray],
    crises: list[_Crisis],
    first_micros: int,
    cutoff: int,
) -> dict[str, np.ndarray]:
    """Repeat contacts: the same customer writes again about the same case within 7 days."""
    probability = np.full(tickets["day"].size, BASE_FOLLOW_UP_PROBABILITY)
    for crisis in _of_kind(crises, COMMUNICATION_FAILURE):
        affected = crisis.days_in(tickets["day"]) & (tickets["channel"] == crisis.segment)
        probability[affected] = crisis.params["follow_up_probability"]
    parents = np.flatnonzero(rng.random(probability.size) < probability)

    follow_ups = {name: values[parents] for name, values in tickets.items()}
    delay_hours = 1.0 + 167.0 * rng.beta(1.2, 3.0, size=parents.size)
    follow_ups["created"] = follow_ups["created"] + (delay_hours * MICROS_PER_HOUR).astype(np.int64)
    follow_ups["day"] = (follow_ups["created"] - first_micros) // MICROS_PER_DAY
    switched_channel = rng.random(parents.size) < 0.15
    follow_ups["channel"] = np.where(
        switched_channel, rng.choice(len(CHANNELS), size=parents.size, p=CHANNEL_SHARE), follow_ups["channel"]
    )
    in_export = follow_ups["created"] < cutoff
    return {name: np.concatenate([values, follow_ups[name][in_export]]) for name, values in tickets.items()}


def _assign_handlers(rng: np.random.Generator, tickets: dict[str, np.ndarray]) -> None:
    n = tickets["day"].size
    misrouted = rng.random(n) < 0.10
    tickets["team"] = np.where(misrouted, rng.integers(0, len(TEAMS), size=n), CATEGORY_TEAM[tickets["category"]])
    first_agent = np.concatenate([[0], np.cumsum(AGENTS_PER_TEAM)[:-1]])
    team_size = AGENTS_PER_TEAM[tickets["team"]]
    tickets["agent"] = first_agent[tickets["team"]] + (rng.random(n) * team_size).astype(np.int64)


def _simulate_service(
    rng: np.random.Generator,
    tickets: dict[str, np.ndarray],
    crises: list[_Crisis],
    daily_load: np.ndarray,
    cutoff: int,
) -> None:
    """First response, complaints, resolution, reopening and closing, in that causal order.

    Times past ``cutoff`` (the moment of the export) have not happened yet and become null later.
    """
    n = tickets["day"].size
    day, channel, category, team = tickets["day"], tickets["channel"], tickets["category"], tickets["team"]
    agent_speed = rng.lognormal(0.0, AGENT_SPEED_SIGMA, len(AGENT_NAMES))
    agent_satisfaction = rng.normal(0.0, AGENT_SATISFACTION_SIGMA, len(AGENT_NAMES))
    tickets["agent_satisfaction_logit"] = agent_satisfaction[tickets["agent"]]

    response_factor = np.ones(n)
    resolution_factor = np.ones(n)
    reopen_factor = np.ones(n)
    attitude_logit = np.zeros(n)
    for crisis in _of_kind(crises, SERVICE_QUALITY):
        affected = crisis.days_in(day) & (team == crisis.segment)
        response_factor[affected] *= crisis.params["response_factor"]
        resolution_factor[affected] *= crisis.params["resolution_factor"]
        reopen_factor[affected] *= crisis.params["reopen_factor"]
        attitude_logit[affected] += crisis.params["attitude_logit"]
    for crisis in _of_kind(crises, COMMUNICATION_FAILURE):
        affected = crisis.days_in(day) & (channel == crisis.segment)
        attitude_logit[affected] += crisis.params["attitude_logit"]
    burst = np.zeros(n)  # sudden-event intensity per ticket, 0 outside events
    for crisis in _of_kind(crises, SUDDEN_EVENT):
        in_region = tickets["region"] == crisis.segment
        shape = np.where(in_region, _burst_shape(crisis, day), 0.0)
        backlog = 1.0 + (crisis.params["backlog_factor"] - 1.0) * shape
        response_factor *= backlog
        resolution_factor *= np.sqrt(backlog)
        burst = np.maximum(burst, shape)
    tickets["attitude_logit"] = attitude_logit

    load_factor = np.clip(daily_load, 0.5, 6.0) ** LOAD_ELASTICITY
    response_minutes = (
        CHANNEL_RESPONSE_MEDIAN_MINUTES[channel]
        * PRIORITY_RESPONSE_FACTOR[tickets["priority"]]
        * load_factor[day]
        * agent_speed[tickets["agent"]]
        * response_factor
        * rng.lognormal(0.0, 1.0, n) ** CHANNEL_RESPONSE_SIGMA[channel]
    )
    response_minutes = np.maximum(response_minutes, 0.2)
    tickets["response_minutes"] = response_minutes

    _draw_complaints(rng, tickets, crises, slow=response_minutes > SLA_MINUTES, burst=burst)
    complaint = tickets["is_complaint"]

    resolution_median = np.where(
        complaint, COMPLAINT_RESOLUTION_MEDIAN_HOURS, CATEGORY_RESOLUTION_MEDIAN_HOURS[category]
    )
    resolution_hours = resolution_median * resolution_factor * rng.lognormal(0.0, RESOLUTION_SIGMA, n)
    reopen_probability = np.minimum((REOPEN_PROBABILITY + 0.04 * complaint) * reopen_factor, 0.6)
    reopen_draw = rng.random(n)
    reopen_count = (reopen_draw < reopen_probability).astype(np.int32) + (
        reopen_draw < 0.15 * reopen_probability
    ).astype(np.int32)
    reopen_hours = reopen_count * rng.lognormal(np.log(30.0), 0.7, n)
    tickets["reopen_count"] = reopen_count
    agent_replies = np.clip(1 + rng.poisson(0.9 + 0.8 * complaint) + reopen_count, 1, 6)

    tickets["first_response"] = tickets["created"] + (response_minutes * MICROS_PER_MINUTE).astype(np.int64)
    tickets["resolved"] = tickets["first_response"] + ((resolution_hours + reopen_hours) * MICROS_PER_HOUR).astype(
        np.int64
    )
    close_hours = rng.lognormal(np.log(CLOSE_DELAY_MEDIAN_HOURS), 0.5, n)
    tickets["closed"] = tickets["resolved"] + (close_hours * MICROS_PER_HOUR).astype(np.int64)

    answered = tickets["first_response"] < cutoff
    resolved = tickets["resolved"] < cutoff
    closed = tickets["closed"] < cutoff
    # Answered but unsolved tickets wait either on the customer (pending) or on the agent (open).
    awaiting_customer = answered & (rng.random(n) < 0.6)
    status = np.where(closed, "closed", np.where(resolved, "resolved", np.where(awaiting_customer, "pending", "open")))
    tickets["status"] = status
    tickets["answered"], tickets["is_resolved"], tickets["is_closed"] = answered, resolved, closed
    tickets["agent_replies"] = np.where(answered, agent_replies, 0).astype(np.int32)


def _draw_complaints(
    rng: np.random.Generator,
    tickets: dict[str, np.ndarray],
    crises: list[_Crisis],
    slow: np.ndarray,
    burst: np.ndarray,
) -> None:
    """Decide which tickets are complaints, their cause and severity."""
    n = slow.size
    day, channel, category = tickets["day"], tickets["channel"], tickets["category"]
    base = (
        BASE_COMPLAINT_PROBABILITY
        * CHANNEL_COMPLAINT_FACTOR[channel]
        * CATEGORY_COMPLAINT_FACTOR[category]
        * np.where(slow, SLOW_RESPONSE_COMPLAINT_FACTOR, 1.0)
    )
    probability = base.copy()
    miscommunication = np.zeros(n, dtype=bool)
    for crisis in _of_kind(crises, COMMUNICATION_FAILURE):
        affected = crisis.days_in(day) & (channel == crisis.segment)
        probability[affected] = base[affected] * crisis.params["complaint_factor"]
        miscommunication |= affected
    event_cause = np.full(n, -1)
    for crisis in _of_kind(crises, SUDDEN_EVENT):
        shape = np.where(tickets["region"] == crisis.segment, _burst_shape(crisis, day), 0.0)
        affected = shape > 0
        # Tickets already multiply by the volume factor, so each one carries the rest of the complaint surge.
        volume = 1.0 + (crisis.params["volume_factor"] - 1.0) * shape
        complaints = 1.0 + (crisis.params["complaint_factor"] - 1.0) * shape
        probability = np.where(affected, np.minimum(base * complaints / volume, 0.9), probability)
        technical = CATEGORIES[int(crisis.params["category"])] == "technical fault"
        event_cause[affected] = PRODUCT_FAULT if technical else DELIVERY_DELAY

    draw = rng.random(n)
    is_complaint = draw < probability
    crisis_extra = draw >= base  # complaints that exist only because of a crisis

    linked_cause = CATEGORY_COMPLAINT_CAUSE[category]
    general_cause = rng.choice([WRONG_INFORMATION, STAFF_ATTITUDE, SLOW_RESPONSE], size=n, p=[0.4, 0.3, 0.3])
    cause_draw = rng.random(n)
    cause = np.where((linked_cause >= 0) & (cause_draw < 0.6), linked_cause, general_cause)
    cause = np.where(slow & (cause_draw >= 0.5), SLOW_RESPONSE, cause)
    cause = np.where(
        miscommunication & crisis_extra,
        np.where(rng.random(n) < 0.55, WRONG_INFORMATION, STAFF_ATTITUDE),
        cause,
    )
    cause = np.where((event_cause >= 0) & (rng.random(n) < 0.85), event_cause, cause)

    severity_draw = rng.random(n)
    high_share = 0.12 + 0.10 * tickets["tier"] + 0.25 * burst
    severity = np.where(severity_draw < high_share, 2, np.where(severity_draw < high_share + 0.40, 1, 0))

    tickets["is_complaint"] = is_complaint
    tickets["complaint_cause"] = cause
    tickets["severity"] = severity


# --- Surveys -----------------------------------------------------------------------------------


def _simulate_surveys(
    rng: np.random.Generator, tickets: dict[str, np.ndarray], crises: list[_Crisis], cutoff: int
) -> dict[str, np.ndarray]:
    """Survey answers for resolved tickets, with satisfaction driven by how the ticket went."""
    n = tickets["day"].size
    complaint = tickets["is_complaint"]
    responds = rng.random(n) < np.where(complaint, 0.35, SURVEY_RESPONSE_PROBABILITY)
    responded = tickets["resolved"] + (72.0 * rng.beta(0.8, 2.5, n) * MICROS_PER_HOUR).astype(np.int64)
    chosen = np.flatnonzero(responds & tickets["is_resolved"] & (responded < cutoff))
    responded = responded[chosen]
    order = np.argsort(responded, kind="stable")
    chosen, responded = chosen[order], responded[order]

    response_minutes = tickets["response_minutes"][chosen]
    total_hours = (tickets["resolved"][chosen] - tickets["created"][chosen]) / MICROS_PER_HOUR
    reopen_count = tickets["reopen_count"][chosen]
    # Satisfaction falls with the log of how far the wait overshot its target (SLA-dependent satisfaction).
    logit = (
        SATISFACTION_BASE_LOGIT
        + tickets["agent_satisfaction_logit"][chosen]
        + 0.15 * tickets["tier"][chosen]
        - 0.7 * np.log(np.maximum(response_minutes, SLA_MINUTES) / SLA_MINUTES)
        - 0.4 * np.log(np.maximum(total_hours, 24.0) / 24.0)
        - 1.6 * complaint[chosen]
        - 0.8 * reopen_count
        - tickets["attitude_logit"][chosen]
    )
    satisfied_probability = 1.0 / (1.0 + np.exp(-logit))
    day, product = tickets["day"][chosen], tickets["product"][chosen]
    for crisis in _of_kind(crises, CUSTOMER_SATISFACTION):
        drift = np.where(product == crisis.segment, _drift_points(crisis, day), 0.0)
        satisfied_probability = satisfied_probability - drift / 100.0
    satisfied = rng.random(chosen.size) < np.clip(satisfied_probability, 0.01, 0.995)

    m = chosen.size
    score_draw = rng.random(m)
    five_point = np.where(
        satisfied,
        np.where(score_draw < 0.62, 5, 4),
        np.where(score_draw < 0.5, 3, np.where(score_draw < 0.78, 2, 1)),
    ).astype(np.float64)
    is_nps = rng.random(m) < NPS_SHARE
    nps_score = np.clip(np.rint((five_point - 1.0) * 2.5 + rng.normal(0.0, 0.8, m)), 0.0, 10.0)
    score = np.where(is_nps, nps_score, five_point)

    comment_probability = np.where(satisfied, 0.12, 0.40)
    has_comment = rng.random(m) < comment_probability
    comment_index = np.where(
        satisfied,
        rng.integers(0, len(POSITIVE_COMMENTS), m),
        len(POSITIVE_COMMENTS) + rng.integers(0, len(NEGATIVE_COMMENTS), m),
    )
    comment_index = np.where(has_comment, comment_index, -1)

    has_servqual = rng.random(m) < SERVQUAL_SHARE
    slow = (response_minutes > SLA_MINUTES).astype(np.float64)
    dimension_shift = {
        "dim_tangibles": np.zeros(m),
        "dim_reliability": -0.6 * (reopen_count > 0),
        "dim_responsiveness": -0.8 * slow,
        "dim_assurance": np.zeros(m),
        "dim_empathy": -0.5 * (tickets["attitude_logit"][chosen] > 0),
    }
    dimensions = {
        name: np.where(has_servqual, np.clip(np.rint(five_point + shift + rng.normal(0.0, 0.6, m)), 1.0, 5.0), np.nan)
        for name, shift in dimension_shift.items()
    }
    return {
        "ticket": chosen,
        "responded": responded,
        "is_nps": is_nps,
        "score": score,
        "comment_index": comment_index,
        **dimensions,
    }


# --- Frames ------------------------------------------------------------------------------------


def _timestamps(micros: np.ndarray, valid: np.ndarray | None = None) -> pl.Series:
    # float64 holds epoch microseconds exactly (well below 2**53) and lets NaN stand for null.
    values = micros.astype(np.float64)
    if valid is not None:
        values = np.where(valid, values, np.nan)
    return pl.Series(values, nan_to_null=True).cast(pl.Int64).cast(pl.Datetime("us")).dt.replace_time_zone("UTC")


def _labels(labels: tuple[str | None, ...], index: np.ndarray) -> pl.Series:
    return pl.Series(list(labels), dtype=pl.String).gather(index)


def _ids(prefix: str, numbers: np.ndarray, width: int) -> pl.Series:
    return prefix + pl.Series(numbers, dtype=pl.Int64).cast(pl.String).str.zfill(width)


def _json_labels(options: tuple[dict | None, ...]) -> tuple[str | None, ...]:
    return tuple(None if option is None else json.dumps(option) for option in options)


def _ticket_ids(ticket_index: np.ndarray) -> pl.Series:
    return _ids("T-", ticket_index + 1, 7)


def _tickets_frame(rng: np.random.Generator, tickets: dict[str, np.ndarray]) -> pl.DataFrame:
    n = tickets["day"].size
    attribute_index = rng.choice(len(TICKET_ATTRIBUTES), size=n, p=TICKET_ATTRIBUTE_SHARE)
    frame = pl.DataFrame(
        {
            "ticket_id": _ticket_ids(np.arange(n)),
            "created_at": _timestamps(tickets["created"]),
            "first_response_at": _timestamps(tickets["first_response"], tickets["answered"]),
            "resolved_at": _timestamps(tickets["resolved"], tickets["is_resolved"]),
            "closed_at": _timestamps(tickets["closed"], tickets["is_closed"]),
            "status": pl.Series(tickets["status"], dtype=pl.String),
            "channel": _labels(CHANNELS, tickets["channel"]),
            "category": _labels(CATEGORIES, tickets["category"]),
            "priority": _labels(PRIORITIES, tickets["priority"]),
            "team": _labels(TEAMS, tickets["team"]),
            "agent": _labels(AGENT_NAMES, tickets["agent"]),
            "customer_id": _ids("CUST-", tickets["customer"] + 1, 6),
            "customer_tier": _labels(TIERS, tickets["tier"]),
            "region": _labels(REGIONS, tickets["region"]),
            "product": _labels(PRODUCTS, tickets["product"]),
            "is_complaint": pl.Series(tickets["is_complaint"], dtype=pl.Boolean),
            "reopen_count": pl.Series(tickets["reopen_count"], dtype=pl.Int32),
            "agent_replies": pl.Series(tickets["agent_replies"], dtype=pl.Int32),
            "attributes": _labels(_json_labels(TICKET_ATTRIBUTES), attribute_index),
        }
    )
    return frame.select([*TICKETS.column_names, "attributes"])


def _surveys_frame(rng: np.random.Generator, surveys: dict[str, np.ndarray]) -> pl.DataFrame:
    m = surveys["ticket"].size
    score = surveys["score"]
    is_nps = surveys["is_nps"]
    attribute_index = rng.choice(len(SURVEY_ATTRIBUTES), size=m, p=SURVEY_ATTRIBUTE_SHARE)
    comment_labels = (*POSITIVE_COMMENTS, *NEGATIVE_COMMENTS, None)
    frame = pl.DataFrame(
        {
            "response_id": _ids("S-", np.arange(1, m + 1), 7),
            "ticket_id": _ticket_ids(surveys["ticket"]),
            "responded_at": _timestamps(surveys["responded"]),
            "survey_type": pl.Series(np.where(is_nps, "nps", "csat"), dtype=pl.String),
            "score": pl.Series(score, dtype=pl.Float64),
            "scale": pl.Series(np.where(is_nps, "0-10", "1-5"), dtype=pl.String),
            "is_satisfied": pl.Series(np.where(is_nps, score >= 9, score >= 4), dtype=pl.Boolean),
            "comment": _labels(comment_labels, surveys["comment_index"] % len(comment_labels)),
            **{name: pl.Series(surveys[name], dtype=pl.Float64, nan_to_null=True) for name in SERVQUAL_COLUMNS},
            "attributes": _labels(_json_labels(SURVEY_ATTRIBUTES), attribute_index),
        }
    )
    return frame.select([*SURVEYS.column_names, "attributes"])


def _complaints_frame(rng: np.random.Generator, tickets: dict[str, np.ndarray]) -> pl.DataFrame:
    rows = np.flatnonzero(tickets["is_complaint"])
    k = rows.size
    cause = tickets["complaint_cause"][rows]
    severity = tickets["severity"][rows]
    templates = tuple(text for c in range(len(COMPLAINT_CAUSES)) for text in COMPLAINT_TEMPLATES[c])
    template_index = cause * 3 + rng.integers(0, 3, k)
    escalated = (severity == 2) & (rng.random(k) < 0.6)
    attribute_index = np.where(escalated, 2, rng.integers(0, 2, k))
    frame = pl.DataFrame(
        {
            "complaint_id": _ids("C-", np.arange(1, k + 1), 6),
            "ticket_id": _ticket_ids(rows),
            "created_at": _timestamps(tickets["created"][rows]),
            "first_response_at": _timestamps(tickets["first_response"][rows], tickets["answered"][rows]),
            "resolved_at": _timestamps(tickets["resolved"][rows], tickets["is_resolved"][rows]),
            "status": pl.Series(tickets["status"][rows], dtype=pl.String),
            "category": _labels(COMPLAINT_CAUSES, cause),
            "channel": _labels(CHANNELS, tickets["channel"][rows]),
            "product": _labels(PRODUCTS, tickets["product"][rows]),
            "region": _labels(REGIONS, tickets["region"][rows]),
            "team": _labels(TEAMS, tickets["team"][rows]),
            "customer_id": _ids("CUST-", tickets["customer"][rows] + 1, 6),
            "severity": _labels(SEVERITIES, severity),
            "text": _labels(templates, template_index),
            "attributes": _labels(_json_labels(COMPLAINT_ATTRIBUTES), attribute_index),
        }
    ).with_columns(pl.col("text").str.replace("{product}", pl.col("product"), literal=True))
    return frame.select([*COMPLAINTS.column_names, "attributes"])
