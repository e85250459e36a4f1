"""The simulated survey answers: who answers after a resolved ticket, how satisfied they are given
how the ticket went, their scores, comments and SERVQUAL dimensions.

Parallel numpy arrays, one entry per answer, in order of answering; ``frames`` turns them into
the surveys table.
"""

from __future__ import annotations

import numpy as np

from pipelines.demo.crises import CUSTOMER_SATISFACTION, InjectedCrisis, drift_points, of_kind
from pipelines.demo.organisation import (
    MICROS_PER_HOUR,
    NEGATIVE_COMMENTS,
    NPS_SHARE,
    POSITIVE_COMMENTS,
    SATISFACTION_BASE_LOGIT,
    SERVQUAL_SHARE,
    SLA_MINUTES,
    SURVEY_RESPONSE_PROBABILITY,
)


def simulate_surveys(
    rng: np.random.Generator, tickets: dict[str, np.ndarray], crises: list[InjectedCrisis], cutoff: int
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
    for crisis in of_kind(crises, CUSTOMER_SATISFACTION):
        drift = np.where(product == crisis.segment, drift_points(crisis, day), 0.0)
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
