"""The crisis log's rows: reading and writing one crisis, its events and its severity history.

The shared ground of ``log`` (scans and reading) and ``handling`` (what people do with a crisis):
the refusal every crisis-log operation raises (``CrisisLogError``), which statuses are open, the
row-level statements on the tables of migration 003 (``crises``, ``crisis_events``,
``crisis_severity_history``), the period arithmetic of a crisis's grain and the JSON form its
evidence is stored in. Grain: one crisis row, one event, one value. No transactions here: the
callers open one per public operation.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import duckdb

from metrics.crises.model import STATUSES

CLOSED_STATUSES = ("resolved", "reviewed")
# Awaiting a person's confirmation: off the open list, yet still live (a new flag reopens it).
RECOVERED = "recovered"
OPEN_STATUSES = tuple(s for s in STATUSES if s not in (*CLOSED_STATUSES, RECOVERED))
EVENT_ACTIONS = (
    "detected",
    "extended",
    "severity_changed",
    "escalated",
    "acknowledged",
    "status_changed",
    "recovery_proposed",
    "recovery_confirmed",
    "reviewed",
    "notified",  # a message about one of the events above went to one destination (metrics.notify)
)
JSON_COLUMNS = ("evidence", "contributors", "signals", "five_whys")


class CrisisLogError(ValueError):
    """A refused crisis-log operation; the message is one line meant for the user."""

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(str(message).split()))


def check_status(status: Any) -> None:
    if status not in STATUSES:
        raise CrisisLogError(f"unknown status {status!r}; expected one of {joined(STATUSES)}")


def fetch_rows(con: duckdb.DuckDBPyConnection, query: str, params: list[Any] | None = None) -> list[dict]:
    relation = con.sql(query, params=params or None)
    columns = relation.columns
    return [dict(zip(columns, values, strict=True)) for values in relation.fetchall()]


def load_crisis(con: duckdb.DuckDBPyConnection, crisis_id: Any) -> dict:
    if isinstance(crisis_id, bool):
        raise CrisisLogError(f"crisis id {crisis_id!r} is not a number")
    try:
        number = int(crisis_id)
    except (TypeError, ValueError):
        raise CrisisLogError(f"crisis id {crisis_id!r} is not a number") from None
    found = fetch_rows(con, "SELECT * FROM crises WHERE crisis_id = ?", [number])
    if not found:
        raise CrisisLogError(f"crisis {number} does not exist")
    return found[0]


def update_crisis(con: duckdb.DuckDBPyConnection, crisis_id: int, sets: dict[str, Any]) -> None:
    assignments = ", ".join(f"{name} = ?" for name in sets)
    con.execute(f"UPDATE crises SET {assignments} WHERE crisis_id = ?", [*sets.values(), crisis_id])


def add_event(
    con: duckdb.DuckDBPyConnection,
    crisis_id: int,
    at: datetime,
    actor: str,
    action: str,
    from_value: str | None,
    to_value: str | None,
    note: str | None,
) -> None:
    assert action in EVENT_ACTIONS, action
    con.execute(
        'INSERT INTO crisis_events (event_id, crisis_id, "at", actor, action, from_value, to_value, note) '
        "VALUES (nextval('crisis_event_id_seq'), ?, ?, ?, ?, ?, ?, ?)",
        [crisis_id, at, actor, action, from_value, to_value, note],
    )


def add_severity_history(
    con: duckdb.DuckDBPyConnection, crisis_id: int, period: date, severity: str, reason: str, at: datetime
) -> None:
    con.execute(
        "INSERT INTO crisis_severity_history (crisis_id, period, severity, reason, recorded_at) VALUES (?, ?, ?, ?, ?)",
        [crisis_id, period, severity, reason, at],
    )


def placeholders(values: Iterable[Any]) -> str:
    return ", ".join("?" for _ in values)


def joined(values: Iterable[str]) -> str:
    return ", ".join(values)


def required_actor(value: Any, name: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise CrisisLogError(f"{name} is required (who makes the change goes into the audit trail)")
    return value.strip()


def as_aware(moment: datetime) -> datetime:
    """A timezone-aware timestamp; naive ones are taken as UTC."""
    if isinstance(moment, datetime):
        return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    if isinstance(moment, date):
        return datetime(moment.year, moment.month, moment.day, tzinfo=UTC)
    raise CrisisLogError(f"expected a date and time, not {moment!r}")


def period_start(day: date, grain: str) -> date:
    """The first day of the grain period holding ``day`` (DuckDB's date_trunc: weeks start on Monday)."""
    if grain == "week":
        return day - timedelta(days=day.weekday())
    if grain == "month":
        return day.replace(day=1)
    if grain == "quarter":
        return day.replace(month=(day.month - 1) // 3 * 3 + 1, day=1)
    if grain == "year":
        return day.replace(month=1, day=1)
    return day


def next_period(day: date, grain: str) -> date:
    """The first day of the grain period after the one holding ``day``."""
    start = period_start(day, grain)
    if grain == "week":
        return start + timedelta(days=7)
    months = {"month": 1, "quarter": 3, "year": 12}.get(grain)
    if months is None:
        return day + timedelta(days=1)
    month = start.month - 1 + months
    return start.replace(year=start.year + month // 12, month=month % 12 + 1)


def json_ready(value: Any) -> Any:
    """A JSON-ready copy: dates as ISO text, numpy/Decimal as numbers, NaN and infinities as null."""
    if value is None or isinstance(value, str | bool | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Decimal):
        return json_ready(float(value))
    if isinstance(value, dict):
        return {str(k): json_ready(v) for k, v in value.items()}
    if isinstance(value, set | frozenset):
        return [json_ready(v) for v in sorted(value, key=str)]
    if isinstance(value, list | tuple):
        return [json_ready(v) for v in value]
    if isinstance(value, datetime | date):
        return value.isoformat()
    if hasattr(value, "item") and callable(value.item):
        try:
            return json_ready(value.item())  # numpy scalars
        except (TypeError, ValueError):
            pass
    for method in ("tolist", "to_list"):  # numpy arrays, polars series
        if hasattr(value, method):
            return json_ready(getattr(value, method)())
    return str(value)


def to_json(value: Any) -> str:
    return json.dumps(json_ready(value), ensure_ascii=False)


def from_json(text: str | None) -> Any:
    return None if text is None else json.loads(text)
