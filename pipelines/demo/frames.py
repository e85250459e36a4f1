"""The demo's tables: simulated arrays turned into the tickets, surveys and complaints frames of
the warehouse schema, with identifiers, labels, timestamps and free-form attributes.
"""

from __future__ import annotations

import json

import numpy as np
import polars as pl

from pipelines.demo.organisation import (
    AGENT_NAMES,
    CATEGORIES,
    CHANNELS,
    COMPLAINT_ATTRIBUTES,
    COMPLAINT_CAUSES,
    COMPLAINT_TEMPLATES,
    NEGATIVE_COMMENTS,
    POSITIVE_COMMENTS,
    PRIORITIES,
    PRODUCTS,
    REGIONS,
    SERVQUAL_COLUMNS,
    SEVERITIES,
    SURVEY_ATTRIBUTE_SHARE,
    SURVEY_ATTRIBUTES,
    TEAMS,
    TICKET_ATTRIBUTE_SHARE,
    TICKET_ATTRIBUTES,
    TIERS,
)
from pipelines.warehouse.schema import COMPLAINTS, SURVEYS, TICKETS


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


def tickets_frame(rng: np.random.Generator, tickets: dict[str, np.ndarray]) -> pl.DataFrame:
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


def surveys_frame(rng: np.random.Generator, surveys: dict[str, np.ndarray]) -> pl.DataFrame:
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


def complaints_frame(rng: np.random.Generator, tickets: dict[str, np.ndarray]) -> pl.DataFrame:
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
