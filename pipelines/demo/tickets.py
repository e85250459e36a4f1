"""The simulated tickets: how many arrive each day, from whom, about what, and how the service
answers, resolves, reopens and closes them, with the crises' effects applied.

Tickets travel as parallel numpy arrays in one dict keyed by column (one entry per ticket, in
creation order once drawn), so that every step stays vectorised; ``frames`` turns them into
the tickets and complaints tables.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np

from pipelines.demo.crises import (
    COMMUNICATION_FAILURE,
    SERVICE_QUALITY,
    SUDDEN_EVENT,
    InjectedCrisis,
    burst_shape,
    of_kind,
)
from pipelines.demo.organisation import (
    AGENT_NAMES,
    AGENT_SATISFACTION_SIGMA,
    AGENT_SPEED_SIGMA,
    AGENTS_PER_TEAM,
    BASE_COMPLAINT_PROBABILITY,
    BASE_DAILY_TICKETS,
    BASE_FOLLOW_UP_PROBABILITY,
    CATEGORIES,
    CATEGORY_COMPLAINT_CAUSE,
    CATEGORY_COMPLAINT_FACTOR,
    CATEGORY_RESOLUTION_MEDIAN_HOURS,
    CATEGORY_SHARE,
    CATEGORY_TEAM,
    CHANNEL_COMPLAINT_FACTOR,
    CHANNEL_RESPONSE_MEDIAN_MINUTES,
    CHANNEL_RESPONSE_SIGMA,
    CHANNEL_SHARE,
    CHANNELS,
    CLOSE_DELAY_MEDIAN_HOURS,
    COMPLAINT_RESOLUTION_MEDIAN_HOURS,
    DELIVERY_DELAY,
    HOUR_WEIGHTS,
    KEY_ACCOUNT_SHARE,
    LOAD_ELASTICITY,
    MICROS_PER_DAY,
    MICROS_PER_HOUR,
    MICROS_PER_MINUTE,
    PRIORITIES,
    PRIORITY_RESPONSE_FACTOR,
    PRIORITY_SHARE,
    PRODUCT_FAULT,
    PRODUCT_SHARE,
    PRODUCTS,
    REGION_SHARE,
    REGIONS,
    REOPEN_PROBABILITY,
    RESOLUTION_SIGMA,
    SLA_MINUTES,
    SLOW_RESPONSE,
    SLOW_RESPONSE_COMPLAINT_FACTOR,
    STAFF_ATTITUDE,
    TEAMS,
    WEEKDAY_FACTOR,
    WRONG_INFORMATION,
    YEARLY_GROWTH,
)


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


def simulate_tickets(
    rng: np.random.Generator,
    first_day: date,
    days: int,
    crises: list[InjectedCrisis],
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
    for crisis in of_kind(crises, SUDDEN_EVENT):
        region_customers = np.flatnonzero(customer_region == crisis.segment)
        region_weights = customer_activity[region_customers] / customer_activity[region_customers].sum()
        event_days = np.arange(crisis.start, crisis.end + 1)
        shape = burst_shape(crisis, event_days)
        extra_expected = expected[event_days] * REGION_SHARE[crisis.segment] * (crisis.params.volume_factor - 1)
        extra_counts = rng.poisson(extra_expected * shape)
        extra_days = np.repeat(event_days, extra_counts)
        burst_days.append(extra_days)
        burst_customers.append(rng.choice(region_customers, size=extra_days.size, p=region_weights))
        on_topic = rng.random(extra_days.size) < 0.8
        burst_categories.append(np.where(on_topic, crisis.params.category, -1))
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
    crises: list[InjectedCrisis],
    first_micros: int,
    cutoff: int,
) -> dict[str, np.ndarray]:
    """Repeat contacts: the same customer writes again about the same case within 7 days."""
    probability = np.full(tickets["day"].size, BASE_FOLLOW_UP_PROBABILITY)
    for crisis in of_kind(crises, COMMUNICATION_FAILURE):
        affected = crisis.days_in(tickets["day"]) & (tickets["channel"] == crisis.segment)
        probability[affected] = crisis.params.follow_up_probability
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
    crises: list[InjectedCrisis],
    daily_load: np.ndarray,
    cutoff: int,
) -> None:
    """First response, complaints, resolution, reopening and closing, in that causal order.

    Times past ``cutoff`` (the moment of the export) have not happened yet and become null later.
    The steps draw from ``rng`` in this order; reordering them would change every seed's data.
    """
    agent_speed = rng.lognormal(0.0, AGENT_SPEED_SIGMA, len(AGENT_NAMES))
    agent_satisfaction = rng.normal(0.0, AGENT_SATISFACTION_SIGMA, len(AGENT_NAMES))
    tickets["agent_satisfaction_logit"] = agent_satisfaction[tickets["agent"]]
    effects = _crisis_effects(tickets, crises)
    tickets["attitude_logit"] = effects.attitude_logit
    _draw_first_responses(rng, tickets, effects, daily_load, agent_speed)
    _draw_complaints(rng, tickets, crises, slow=tickets["response_minutes"] > SLA_MINUTES, burst=effects.burst)
    agent_replies = _draw_resolution_and_closing(rng, tickets, effects)
    _state_at_export(rng, tickets, agent_replies, cutoff)


@dataclass(frozen=True)
class _CrisisEffects:
    """What the crises running at each ticket do to its service (one entry per ticket, 1 or 0 without)."""

    response_factor: np.ndarray  # first responses this many times slower
    resolution_factor: np.ndarray  # resolutions this many times slower
    reopen_factor: np.ndarray  # reopening this many times likelier
    attitude_logit: np.ndarray  # satisfaction lost to staff attitude, on the logit scale
    burst: np.ndarray  # sudden-event intensity, 0 outside events


def _crisis_effects(tickets: dict[str, np.ndarray], crises: list[InjectedCrisis]) -> _CrisisEffects:
    n = tickets["day"].size
    day, channel, team = tickets["day"], tickets["channel"], tickets["team"]
    response_factor = np.ones(n)
    resolution_factor = np.ones(n)
    reopen_factor = np.ones(n)
    attitude_logit = np.zeros(n)
    for crisis in of_kind(crises, SERVICE_QUALITY):
        affected = crisis.days_in(day) & (team == crisis.segment)
        response_factor[affected] *= crisis.params.response_factor
        resolution_factor[affected] *= crisis.params.resolution_factor
        reopen_factor[affected] *= crisis.params.reopen_factor
        attitude_logit[affected] += crisis.params.attitude_logit
    for crisis in of_kind(crises, COMMUNICATION_FAILURE):
        affected = crisis.days_in(day) & (channel == crisis.segment)
        attitude_logit[affected] += crisis.params.attitude_logit
    burst = np.zeros(n)
    for crisis in of_kind(crises, SUDDEN_EVENT):
        in_region = tickets["region"] == crisis.segment
        shape = np.where(in_region, burst_shape(crisis, day), 0.0)
        backlog = 1.0 + (crisis.params.backlog_factor - 1.0) * shape
        response_factor *= backlog
        resolution_factor *= np.sqrt(backlog)
        burst = np.maximum(burst, shape)
    return _CrisisEffects(response_factor, resolution_factor, reopen_factor, attitude_logit, burst)


def _draw_first_responses(
    rng: np.random.Generator,
    tickets: dict[str, np.ndarray],
    effects: _CrisisEffects,
    daily_load: np.ndarray,
    agent_speed: np.ndarray,
) -> None:
    """Minutes to the first response: channel, priority, the day's load, the agent and the crises."""
    channel = tickets["channel"]
    load_factor = np.clip(daily_load, 0.5, 6.0) ** LOAD_ELASTICITY
    response_minutes = (
        CHANNEL_RESPONSE_MEDIAN_MINUTES[channel]
        * PRIORITY_RESPONSE_FACTOR[tickets["priority"]]
        * load_factor[tickets["day"]]
        * agent_speed[tickets["agent"]]
        * effects.response_factor
        * rng.lognormal(0.0, 1.0, channel.size) ** CHANNEL_RESPONSE_SIGMA[channel]
    )
    tickets["response_minutes"] = np.maximum(response_minutes, 0.2)


def _draw_resolution_and_closing(
    rng: np.random.Generator, tickets: dict[str, np.ndarray], effects: _CrisisEffects
) -> np.ndarray:
    """When each ticket is resolved (reopenings included) and closed; returns the agent replies drawn."""
    n = tickets["day"].size
    complaint = tickets["is_complaint"]
    resolution_median = np.where(
        complaint, COMPLAINT_RESOLUTION_MEDIAN_HOURS, CATEGORY_RESOLUTION_MEDIAN_HOURS[tickets["category"]]
    )
    resolution_hours = resolution_median * effects.resolution_factor * rng.lognormal(0.0, RESOLUTION_SIGMA, n)
    reopen_probability = np.minimum((REOPEN_PROBABILITY + 0.04 * complaint) * effects.reopen_factor, 0.6)
    reopen_draw = rng.random(n)
    reopen_count = (reopen_draw < reopen_probability).astype(np.int32) + (
        reopen_draw < 0.15 * reopen_probability
    ).astype(np.int32)
    reopen_hours = reopen_count * rng.lognormal(np.log(30.0), 0.7, n)
    tickets["reopen_count"] = reopen_count
    agent_replies = np.clip(1 + rng.poisson(0.9 + 0.8 * complaint) + reopen_count, 1, 6)

    response_micros = (tickets["response_minutes"] * MICROS_PER_MINUTE).astype(np.int64)
    tickets["first_response"] = tickets["created"] + response_micros
    tickets["resolved"] = tickets["first_response"] + ((resolution_hours + reopen_hours) * MICROS_PER_HOUR).astype(
        np.int64
    )
    close_hours = rng.lognormal(np.log(CLOSE_DELAY_MEDIAN_HOURS), 0.5, n)
    tickets["closed"] = tickets["resolved"] + (close_hours * MICROS_PER_HOUR).astype(np.int64)
    return agent_replies


def _state_at_export(
    rng: np.random.Generator, tickets: dict[str, np.ndarray], agent_replies: np.ndarray, cutoff: int
) -> None:
    """What had happened to each ticket by the export at ``cutoff``: its status and the replies sent."""
    answered = tickets["first_response"] < cutoff
    resolved = tickets["resolved"] < cutoff
    closed = tickets["closed"] < cutoff
    # Answered but unsolved tickets wait either on the customer (pending) or on the agent (open).
    awaiting_customer = answered & (rng.random(answered.size) < 0.6)
    status = np.where(closed, "closed", np.where(resolved, "resolved", np.where(awaiting_customer, "pending", "open")))
    tickets["status"] = status
    tickets["answered"], tickets["is_resolved"], tickets["is_closed"] = answered, resolved, closed
    tickets["agent_replies"] = np.where(answered, agent_replies, 0).astype(np.int32)


def _draw_complaints(
    rng: np.random.Generator,
    tickets: dict[str, np.ndarray],
    crises: list[InjectedCrisis],
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
    for crisis in of_kind(crises, COMMUNICATION_FAILURE):
        affected = crisis.days_in(day) & (channel == crisis.segment)
        probability[affected] = base[affected] * crisis.params.complaint_factor
        miscommunication |= affected
    event_cause = np.full(n, -1)
    for crisis in of_kind(crises, SUDDEN_EVENT):
        shape = np.where(tickets["region"] == crisis.segment, burst_shape(crisis, day), 0.0)
        affected = shape > 0
        # Tickets already multiply by the volume factor, so each one carries the rest of the complaint surge.
        volume = 1.0 + (crisis.params.volume_factor - 1.0) * shape
        complaints = 1.0 + (crisis.params.complaint_factor - 1.0) * shape
        probability = np.where(affected, np.minimum(base * complaints / volume, 0.9), probability)
        technical = CATEGORIES[crisis.params.category] == "technical fault"
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
