"""The crisis log: what the radar detected, and how people handled it (DOMAIN.md, the five-step process).

Pure DuckDB functions over the tables of migration 003 (``crises``, ``crisis_events``,
``crisis_severity_history``); no streamlit. Every public function that writes does so in one
transaction: on any refusal or failure nothing is written.

Lifecycle of a crisis:

* ``record_scan`` logs what a detector scan found. A signal for a (metric, dimension, segment, grain)
  that already has an open crisis extends that crisis; otherwise a new crisis opens as ``detected``.
  Open crises the scan no longer flags count periods back inside limits, and after
  ``recovery_periods_needed`` of them the radar *proposes* recovery. It never resolves anything.
* People move a crisis forward one step at a time along ``STATUSES``: ``acknowledge`` (needs an
  owner), ``advance`` (response_plan_active, resolving, resolved), ``confirm_recovery`` (a person
  confirms the recovery the radar proposed: straight to resolved from any open status) and
  ``write_review`` (fishbone category, 5 whys, review text: resolved -> reviewed).
* A resolved or reviewed crisis is closed for good: a later signal for the same place opens a new one.

Refusals raise ``CrisisLogError`` with a one-line message meant for the user.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import duckdb
import polars as pl

from metrics.crises.model import CRISIS_TYPES, FISHBONE_CATEGORIES, SEVERITIES, STATUSES, DetectedCrisis
from pipelines.warehouse.store import transaction

CLOSED_STATUSES = ("resolved", "reviewed")
OPEN_STATUSES = tuple(s for s in STATUSES if s not in CLOSED_STATUSES)
EVENT_ACTIONS = (
    "detected",
    "extended",
    "severity_changed",
    "acknowledged",
    "status_changed",
    "recovery_proposed",
    "recovery_confirmed",
    "reviewed",
)
JSON_COLUMNS = ("evidence", "contributors", "signals", "five_whys")

# The five-step handling process of DOMAIN.md (seed 000, chapter 4) specialised to each crisis type
# (seed 000, chapter 2), with the principles: respond fast, be transparent, compensate where due,
# prevent recurrence. Shown next to a crisis as the recommended response.
RESPONSE_STEPS: dict[str, tuple[str, ...]] = {
    "service_quality": (
        "Confirm which teams, agents and channels the drop is concentrated in",
        "Name an owner and coach the affected team, or reassign its cases to experienced agents",
        "Restore the first-response SLA: add staff to the queue and clear the backlog",
        "Simplify the process step customers find slow or opaque",
        "Call back dissatisfied customers and resolve their open cases",
        "Confirm CSAT, response times and reopen rate are back inside limits, then review",
    ),
    "communication_failure": (
        "Identify the wrong or missing information and every customer who received it",
        "Correct the information with each affected customer",
        "Apologise where the information or the language was wrong",
        "Fix the script and the knowledge-base entry at the source",
        "Brief agents on the correction and on appropriate language",
        "Watch repeat contacts and information complaints until they fall back, then review",
    ),
    "sudden_event": (
        "Activate the emergency plan: a lead, analysts and an external-communication owner",
        "Find and contain the cause (outage, data loss, security breach, accident)",
        "Publish public information early and update it as the situation changes",
        "Add contact capacity for the surge and work the backlog by priority",
        "Compensate affected customers where due",
        "Monitor volume and response times until they are normal, then review to prevent recurrence",
    ),
    "customer_satisfaction": (
        "Find where expectations and the service delivered diverge (survey dimensions, complaint causes)",
        "Contact key accounts one-to-one to hear and address their concerns",
        "Inform other customers by announcement of what will change",
        "Close the expectation gap: fix the service or reset the promise",
        "Follow up on negative comments and compensate where due",
        "Track CSAT until it is back at target, then write the review",
    ),
}


class CrisisLogError(ValueError):
    """A refused crisis-log operation; the message is one line meant for the user."""

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(str(message).split()))


# --------------------------------------------------------------------------------------- scans


def record_scan(
    con: duckdb.DuckDBPyConnection,
    detected: list[DetectedCrisis],
    as_of: datetime,
    actor: str = "radar",
    recovery_periods_needed: int = 2,
    grain: str | None = None,
) -> dict:
    """Log one detector scan, in one transaction; returns ``{"opened", "extended", "recovery_proposed"}`` counts.

    * A detected crisis with an open crisis at the same metric, dimension, segment and grain updates
      it (severity with a history row and a ``severity_changed`` event, evidence, contributors,
      signals, type); when ``last_flagged`` moved forward it is ``extended`` (one event) and its
      recovery count starts again. A signal older than the open crisis's ``last_flagged`` is ignored.
    * Otherwise a new crisis opens as ``detected``, unless the signal belongs to an episode already
      closed (its ``last_flagged`` is not after that crisis's ``end_period``): a closed crisis is never
      reopened nor duplicated.
    * Open crises in the scan's scope that are not flagged in the latest period (absent from
      ``detected``, or present with ``ongoing=False``) are back inside limits: ``recovery_periods``
      grows by one per period, the period being ``as_of`` truncated to the crisis's grain (weeks start
      on Monday), so re-running a scan within the same period counts nothing twice. Once the count
      reaches ``recovery_periods_needed`` recovery is proposed (``recovery_proposed_at`` and an event);
      only ``confirm_recovery`` resolves. Crises whose ``end_period`` is set are left as they are.

    The scope is ``grain`` when given, else the grains of ``detected``; a scan that detected nothing
    and names no grain covers every grain. ``as_of`` (naive means UTC) stamps the events and rows.
    ``extended`` counts crises whose ``last_flagged`` moved. Re-running the same scan changes nothing.
    """
    as_of = _aware(as_of)
    actor = _required(actor, "actor")
    if isinstance(recovery_periods_needed, bool) or not isinstance(recovery_periods_needed, int):
        raise CrisisLogError(f"recovery_periods_needed must be a whole number, not {recovery_periods_needed!r}")
    if recovery_periods_needed < 1:
        raise CrisisLogError(f"recovery_periods_needed must be at least 1, not {recovery_periods_needed}")
    for crisis in detected:
        _check_detected(crisis)
    scope = {grain} if grain else {d.grain for d in detected}

    counts = {"opened": 0, "extended": 0, "recovery_proposed": 0}
    # Oldest signal first, so that several runs for one place extend the crisis forward in time.
    ordered = sorted(detected, key=lambda d: (d.last_flagged, d.start, SEVERITIES.index(d.severity)))
    with transaction(con):
        open_rows = {
            _key(row): row
            for row in _rows(
                con,
                f"SELECT * FROM crises WHERE status NOT IN ({_marks(CLOSED_STATUSES)}) AND end_period IS NULL "
                "ORDER BY crisis_id",
                list(CLOSED_STATUSES),
            )
        }
        flagged: set[int] = set()  # open crises flagged in the latest period by this scan
        for crisis in ordered:
            key = (crisis.metric, crisis.dimension, crisis.segment, crisis.grain)
            row = open_rows.get(key)
            if row is None:
                crisis_id = _open(con, crisis, as_of, actor)
                if crisis_id is None:
                    continue
                counts["opened"] += 1
                open_rows[key] = _load(con, crisis_id)
                if crisis.ongoing:
                    flagged.add(crisis_id)
                continue
            if crisis.last_flagged < row["last_flagged"]:
                continue  # older news than the log already has
            step_days = 7 if crisis.grain == "week" else 1
            if (crisis.start - row["last_flagged"]).days > step_days * (recovery_periods_needed + 1):
                # Quiet long enough in between: that crisis is over (a person still confirms it), this one is new.
                if _count_recovery(con, row, as_of, actor, recovery_periods_needed):
                    counts["recovery_proposed"] += 1
                crisis_id = _open(con, crisis, as_of, actor)
                if crisis_id is not None:
                    counts["opened"] += 1
                    open_rows[key] = _load(con, crisis_id)
                    if crisis.ongoing:
                        flagged.add(crisis_id)
                continue
            if _extend(con, row, crisis, as_of, actor):
                counts["extended"] += 1
            open_rows[key] = _load(con, row["crisis_id"])
            if crisis.ongoing:
                flagged.add(row["crisis_id"])
            else:
                flagged.discard(row["crisis_id"])

        for row in sorted(open_rows.values(), key=lambda r: r["crisis_id"]):
            if row["crisis_id"] in flagged or (scope and row["grain"] not in scope):
                continue
            if _count_recovery(con, row, as_of, actor, recovery_periods_needed):
                counts["recovery_proposed"] += 1
    return counts


def _check_detected(crisis: DetectedCrisis) -> None:
    where = f"{crisis.metric} / {crisis.dimension} = {crisis.segment}"
    for name in ("metric", "dimension", "segment", "grain"):
        value = getattr(crisis, name)
        if not isinstance(value, str) or not value.strip():
            raise CrisisLogError(f"detected crisis {where}: {name} is empty")
    if crisis.type not in CRISIS_TYPES:
        raise CrisisLogError(
            f"detected crisis {where}: unknown type {crisis.type!r}; expected one of {_list(CRISIS_TYPES)}"
        )
    if crisis.severity not in SEVERITIES:
        raise CrisisLogError(
            f"detected crisis {where}: unknown severity {crisis.severity!r}; expected one of {_list(SEVERITIES)}"
        )
    if crisis.start > crisis.last_flagged:
        raise CrisisLogError(
            f"detected crisis {where}: starts {crisis.start}, after it was last flagged {crisis.last_flagged}"
        )


def _open(con: duckdb.DuckDBPyConnection, crisis: DetectedCrisis, as_of: datetime, actor: str) -> int | None:
    """Insert a new crisis, or None when the signal belongs to an episode that is already closed."""
    closed_until = _rows(
        con,
        "SELECT max(coalesce(end_period, last_flagged)) AS until FROM crises "
        "WHERE metric = ? AND dimension = ? AND segment = ? AND grain = ?",
        [crisis.metric, crisis.dimension, crisis.segment, crisis.grain],
    )[0]["until"]
    start = crisis.start
    if closed_until is not None:
        if crisis.last_flagged <= closed_until:
            return None
        if start <= closed_until:  # the run began before the last episode was closed: this one starts after it
            start = min(_next_period(closed_until, crisis.grain), crisis.last_flagged)
    crisis_id = con.sql("SELECT nextval('crisis_id_seq')").fetchall()[0][0]
    con.execute(
        """INSERT INTO crises (crisis_id, metric, dimension, segment, type, type_reason, severity, severity_reason,
               grain, start_period, last_flagged, end_period, status, owner, evidence, contributors, signals,
               recovery_proposed_at, recovery_periods, recovery_counted_period, created_at, updated_at)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, 'detected', NULL, ?, ?, ?, NULL, 0, ?, ?, ?)""",
        [
            crisis_id,
            crisis.metric,
            crisis.dimension,
            crisis.segment,
            crisis.type,
            crisis.type_reason,
            crisis.severity,
            crisis.severity_reason,
            crisis.grain,
            start,
            crisis.last_flagged,
            _dumps(crisis.evidence),
            _dumps(crisis.contributors),
            _dumps(crisis.signals),
            _period_start(as_of.date(), crisis.grain) if crisis.ongoing else None,
            as_of,
            as_of,
        ],
    )
    _history(con, crisis_id, crisis.last_flagged, crisis.severity, crisis.severity_reason, as_of)
    _event(con, crisis_id, as_of, actor, "detected", None, "detected", f"{crisis.severity}: {crisis.severity_reason}")
    return crisis_id


def _extend(con: duckdb.DuckDBPyConnection, row: dict, crisis: DetectedCrisis, as_of: datetime, actor: str) -> bool:
    """Bring an open crisis up to date with this scan's signal; True when last_flagged moved forward."""
    crisis_id = row["crisis_id"]
    sets: dict[str, Any] = {}
    moved = crisis.last_flagged > row["last_flagged"]
    if moved:
        sets["last_flagged"] = crisis.last_flagged
        _event(
            con,
            crisis_id,
            as_of,
            actor,
            "extended",
            row["last_flagged"].isoformat(),
            crisis.last_flagged.isoformat(),
            f"still flagged at {crisis.last_flagged}",
        )
    if crisis.severity != row["severity"]:
        sets["severity"] = crisis.severity
        _history(con, crisis_id, crisis.last_flagged, crisis.severity, crisis.severity_reason, as_of)
        _event(
            con, crisis_id, as_of, actor, "severity_changed", row["severity"], crisis.severity, crisis.severity_reason
        )
    for name in ("severity_reason", "type", "type_reason"):
        if getattr(crisis, name) != row[name]:
            sets[name] = getattr(crisis, name)
    for name in ("evidence", "contributors", "signals"):
        value = _plain(getattr(crisis, name))
        if _loads(row[name]) != value:
            sets[name] = _dumps(value)
    if moved or crisis.ongoing:
        # Flagged again: recovery starts over (an ongoing flag counts this period as not recovered).
        reset = {
            "recovery_periods": 0,
            "recovery_proposed_at": None,
            "recovery_counted_period": _period_start(as_of.date(), row["grain"]) if crisis.ongoing else None,
        }
        sets.update({name: value for name, value in reset.items() if row[name] != value})
    if sets:
        sets["updated_at"] = as_of
        _update(con, crisis_id, sets)
    return moved


def _count_recovery(con: duckdb.DuckDBPyConnection, row: dict, as_of: datetime, actor: str, needed: int) -> bool:
    """Count this period as back inside limits (once per period); True when recovery is newly proposed."""
    period = _period_start(as_of.date(), row["grain"])
    if row["recovery_counted_period"] is not None and period <= row["recovery_counted_period"]:
        return False
    # A crisis first logged long after its last flag has been quiet for every period since.
    step_days = 7 if row["grain"] == "week" else 1
    quiet_since_flag = (period - row["last_flagged"]).days // step_days - 1
    periods = max(row["recovery_periods"] + 1, quiet_since_flag)
    sets: dict[str, Any] = {"recovery_periods": periods, "recovery_counted_period": period, "updated_at": as_of}
    proposed = periods >= needed and row["recovery_proposed_at"] is None
    if proposed:
        sets["recovery_proposed_at"] = as_of
        _event(
            con,
            row["crisis_id"],
            as_of,
            actor,
            "recovery_proposed",
            None,
            None,
            f"back inside limits for {periods} {row['grain']} period{'s' if periods != 1 else ''}; "
            "a person confirms the recovery",
        )
    _update(con, row["crisis_id"], sets)
    return proposed


# --------------------------------------------------------------------------------------- reading


def list_crises(
    con: duckdb.DuckDBPyConnection,
    status: str | list[str] | None = None,
    type: str | None = None,
    severity: str | None = None,
    open_only: bool = False,
    since: date | None = None,
) -> pl.DataFrame:
    """One row per crisis, newest first (start_period, then crisis_id, descending), with an ``is_open`` column.

    Every column of ``crises`` is returned; the JSON columns (evidence, contributors, signals,
    five_whys) stay JSON text, because their shapes differ from crisis to crisis: decode them with
    ``json.loads`` or use ``get_crisis``. ``since`` keeps crises still open or active on or after
    that date (their end_period, or last_flagged while open, is on or after it).
    """
    clauses: list[str] = []
    params: list[Any] = []
    if status is not None:
        statuses = [status] if isinstance(status, str) else list(status)
        for value in statuses:
            _check_status(value)
        if statuses:
            clauses.append(f"status IN ({_marks(statuses)})")
            params.extend(statuses)
        else:
            clauses.append("false")
    if type is not None:
        if type not in CRISIS_TYPES:
            raise CrisisLogError(f"unknown crisis type {type!r}; expected one of {_list(CRISIS_TYPES)}")
        clauses.append("type = ?")
        params.append(type)
    if severity is not None:
        if severity not in SEVERITIES:
            raise CrisisLogError(f"unknown severity {severity!r}; expected one of {_list(SEVERITIES)}")
        clauses.append("severity = ?")
        params.append(severity)
    open_sql = f"status NOT IN ({_marks(CLOSED_STATUSES)})"
    if open_only:
        clauses.append(open_sql)
        params.extend(CLOSED_STATUSES)
    if since is not None:
        clauses.append(f"({open_sql} OR coalesce(end_period, last_flagged) >= ?)")
        params.extend([*CLOSED_STATUSES, since])
    where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
    frame = con.sql(
        f"SELECT *, {open_sql} AS is_open FROM crises {where} ORDER BY start_period DESC, crisis_id DESC",
        params=[*CLOSED_STATUSES, *params],
    ).pl()
    return frame.sort(["start_period", "crisis_id"], descending=True)


def get_crisis(con: duckdb.DuckDBPyConnection, crisis_id: int) -> dict:
    """The crisis as a dict (JSON columns decoded, ``is_open``) plus ``events`` and ``severity_history`` lists.

    Events come in the order they happened (``event_id``), the severity history by period.
    """
    row = _load(con, crisis_id)
    for name in JSON_COLUMNS:
        row[name] = _loads(row[name])
    row["is_open"] = row["status"] not in CLOSED_STATUSES
    row["events"] = _rows(con, "SELECT * FROM crisis_events WHERE crisis_id = ? ORDER BY event_id", [row["crisis_id"]])
    row["severity_history"] = _rows(
        con,
        "SELECT period, severity, reason, recorded_at FROM crisis_severity_history WHERE crisis_id = ? "
        "ORDER BY period, recorded_at, rowid",
        [row["crisis_id"]],
    )
    return row


def open_crisis_exists(con: duckdb.DuckDBPyConnection, metric: str, dimension: str, segment: str, grain: str) -> bool:
    """Whether an open crisis sits at this metric, dimension, segment and grain."""
    found = con.sql(
        f"SELECT count(*) FROM crises WHERE metric = ? AND dimension = ? AND segment = ? AND grain = ? "
        f"AND status NOT IN ({_marks(CLOSED_STATUSES)}) AND end_period IS NULL",
        params=[metric, dimension, segment, grain, *CLOSED_STATUSES],
    ).fetchall()[0][0]
    return found > 0


def response_steps(crisis_type: str) -> list[str]:
    """The recommended response steps for a crisis type (DOMAIN.md's five-step process, specialised)."""
    if crisis_type not in RESPONSE_STEPS:
        raise CrisisLogError(f"unknown crisis type {crisis_type!r}; expected one of {_list(CRISIS_TYPES)}")
    return list(RESPONSE_STEPS[crisis_type])


# --------------------------------------------------------------------------------------- handling


def acknowledge(
    con: duckdb.DuckDBPyConnection,
    crisis_id: int,
    owner: str,
    actor: str,
    note: str = "",
    *,
    at: datetime | None = None,
) -> None:
    """detected -> acknowledged, naming the owner (required). The only way to acknowledged."""
    at = _aware(at) if at else datetime.now(UTC)
    actor = _required(actor, "actor")
    with transaction(con):
        row = _load(con, crisis_id)
        _check_step(row, "acknowledged")
        owner = owner.strip() if isinstance(owner, str) else ""
        if not owner:
            raise CrisisLogError(f"crisis {row['crisis_id']} needs an owner to be acknowledged")
        _update(con, row["crisis_id"], {"status": "acknowledged", "owner": owner, "updated_at": at})
        text = f"owner: {owner}" + (f"; {note.strip()}" if note and note.strip() else "")
        _event(con, row["crisis_id"], at, actor, "acknowledged", row["status"], "acknowledged", text)


def advance(
    con: duckdb.DuckDBPyConnection,
    crisis_id: int,
    to_status: str,
    actor: str,
    note: str = "",
    *,
    at: datetime | None = None,
) -> None:
    """Move a crisis one step forward: to response_plan_active, resolving or resolved.

    Going to resolved sets ``end_period`` to ``last_flagged`` when it is not set. ``acknowledged`` is
    reached only through ``acknowledge`` (it needs an owner), ``reviewed`` only through ``write_review``.
    """
    at = _aware(at) if at else datetime.now(UTC)
    actor = _required(actor, "actor")
    _check_status(to_status)
    with transaction(con):
        row = _load(con, crisis_id)
        _check_step(row, to_status)
        if to_status == "acknowledged":
            raise CrisisLogError(f"crisis {row['crisis_id']} is acknowledged through acknowledge, which names an owner")
        if to_status == "reviewed":
            raise CrisisLogError(
                f"crisis {row['crisis_id']} is reviewed through write_review "
                "(fishbone category, 5 whys and review text)"
            )
        sets: dict[str, Any] = {"status": to_status, "updated_at": at}
        if to_status == "resolved" and row["end_period"] is None:
            sets["end_period"] = row["last_flagged"]
        _update(con, row["crisis_id"], sets)
        _event(con, row["crisis_id"], at, actor, "status_changed", row["status"], to_status, note.strip() or None)


def confirm_recovery(
    con: duckdb.DuckDBPyConnection,
    crisis_id: int,
    actor: str,
    end_period: date | None = None,
    *,
    note: str = "",
    at: datetime | None = None,
) -> None:
    """A person confirms the crisis is over: ``end_period`` (default ``last_flagged``), status resolved.

    Allowed from any open status, usually after the radar proposed recovery; not from resolved/reviewed.
    """
    at = _aware(at) if at else datetime.now(UTC)
    actor = _required(actor, "actor")
    with transaction(con):
        row = _load(con, crisis_id)
        if row["status"] in CLOSED_STATUSES:
            raise CrisisLogError(
                f"crisis {row['crisis_id']} is already {row['status']}; there is no recovery to confirm"
            )
        end = end_period or row["last_flagged"]
        if isinstance(end, datetime):
            end = end.date()
        if end < row["start_period"]:
            raise CrisisLogError(f"crisis {row['crisis_id']} cannot end {end}, before it started {row['start_period']}")
        _update(con, row["crisis_id"], {"status": "resolved", "end_period": end, "updated_at": at})
        if row["recovery_proposed_at"] is not None:
            text = f"ended {end}; back inside limits for {row['recovery_periods']} {row['grain']} period(s)"
        else:
            text = f"ended {end}; confirmed before the radar proposed recovery"
        if note and note.strip():
            text += f"; {note.strip()}"
        _event(con, row["crisis_id"], at, actor, "recovery_confirmed", row["status"], "resolved", text)


def write_review(
    con: duckdb.DuckDBPyConnection,
    crisis_id: int,
    actor: str,
    fishbone_category: str,
    five_whys: list[str],
    actions_taken: str,
    review_text: str,
    *,
    at: datetime | None = None,
) -> None:
    """resolved -> reviewed with the root-cause review: a fishbone category, at least one "why", the text."""
    at = _aware(at) if at else datetime.now(UTC)
    actor = _required(actor, "actor")
    with transaction(con):
        row = _load(con, crisis_id)
        crisis = row["crisis_id"]
        if row["status"] == "reviewed":
            raise CrisisLogError(f"crisis {crisis} is already reviewed")
        if row["status"] != "resolved":
            raise CrisisLogError(f"crisis {crisis} is {row['status']}; it can be reviewed only once resolved")
        if fishbone_category not in FISHBONE_CATEGORIES:
            raise CrisisLogError(
                f"unknown fishbone category {fishbone_category!r}; expected one of {_list(FISHBONE_CATEGORIES)}"
            )
        if isinstance(five_whys, str) or not isinstance(five_whys, Iterable):
            raise CrisisLogError(f"the 5 whys of crisis {crisis} must be a list of answers")
        whys = [str(why).strip() for why in five_whys if why is not None and str(why).strip()]
        if not whys:
            raise CrisisLogError(f"the review of crisis {crisis} needs at least one answer to 'why?'")
        if not isinstance(review_text, str) or not review_text.strip():
            raise CrisisLogError(f"the review of crisis {crisis} needs a review text")
        _update(
            con,
            crisis,
            {
                "status": "reviewed",
                "fishbone_category": fishbone_category,
                "five_whys": _dumps(whys),
                "actions_taken": (actions_taken or "").strip(),
                "review_text": review_text.strip(),
                "updated_at": at,
            },
        )
        _event(con, crisis, at, actor, "reviewed", row["status"], "reviewed", f"root cause: {fishbone_category}")


def _check_step(row: dict, to_status: str) -> None:
    """Statuses move forward one step at a time; refuse staying, skipping and going back."""
    crisis, current = row["crisis_id"], row["status"]
    here, there = STATUSES.index(current), STATUSES.index(to_status)
    if there == here:
        raise CrisisLogError(f"crisis {crisis} is already {current}")
    if there < here:
        raise CrisisLogError(f"crisis {crisis} is {current}; it cannot go back to {to_status}")
    if there > here + 1:
        raise CrisisLogError(
            f"crisis {crisis} is {current}; its next step is {STATUSES[here + 1]}, it cannot skip to {to_status}"
        )


def _check_status(status: Any) -> None:
    if status not in STATUSES:
        raise CrisisLogError(f"unknown status {status!r}; expected one of {_list(STATUSES)}")


# --------------------------------------------------------------------------------------- plumbing


def _rows(con: duckdb.DuckDBPyConnection, query: str, params: list[Any] | None = None) -> list[dict]:
    relation = con.sql(query, params=params or None)
    columns = relation.columns
    return [dict(zip(columns, values, strict=True)) for values in relation.fetchall()]


def _load(con: duckdb.DuckDBPyConnection, crisis_id: Any) -> dict:
    if isinstance(crisis_id, bool):
        raise CrisisLogError(f"crisis id {crisis_id!r} is not a number")
    try:
        number = int(crisis_id)
    except (TypeError, ValueError):
        raise CrisisLogError(f"crisis id {crisis_id!r} is not a number") from None
    found = _rows(con, "SELECT * FROM crises WHERE crisis_id = ?", [number])
    if not found:
        raise CrisisLogError(f"crisis {number} does not exist")
    return found[0]


def _update(con: duckdb.DuckDBPyConnection, crisis_id: int, sets: dict[str, Any]) -> None:
    assignments = ", ".join(f"{name} = ?" for name in sets)
    con.execute(f"UPDATE crises SET {assignments} WHERE crisis_id = ?", [*sets.values(), crisis_id])


def _event(
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


def _history(
    con: duckdb.DuckDBPyConnection, crisis_id: int, period: date, severity: str, reason: str, at: datetime
) -> None:
    con.execute(
        "INSERT INTO crisis_severity_history (crisis_id, period, severity, reason, recorded_at) VALUES (?, ?, ?, ?, ?)",
        [crisis_id, period, severity, reason, at],
    )


def _key(row: dict) -> tuple[str, str, str, str]:
    return row["metric"], row["dimension"], row["segment"], row["grain"]


def _marks(values: Iterable[Any]) -> str:
    return ", ".join("?" for _ in values)


def _list(values: Iterable[str]) -> str:
    return ", ".join(values)


def _required(value: Any, name: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise CrisisLogError(f"{name} is required (who makes the change goes into the audit trail)")
    return value.strip()


def _aware(moment: datetime) -> datetime:
    """A timezone-aware timestamp; naive ones are taken as UTC."""
    if isinstance(moment, datetime):
        return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    if isinstance(moment, date):
        return datetime(moment.year, moment.month, moment.day, tzinfo=UTC)
    raise CrisisLogError(f"expected a date and time, not {moment!r}")


def _period_start(day: date, grain: str) -> date:
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


def _next_period(day: date, grain: str) -> date:
    """The first day of the grain period after the one holding ``day``."""
    start = _period_start(day, grain)
    if grain == "week":
        return start + timedelta(days=7)
    months = {"month": 1, "quarter": 3, "year": 12}.get(grain)
    if months is None:
        return day + timedelta(days=1)
    month = start.month - 1 + months
    return start.replace(year=start.year + month // 12, month=month % 12 + 1)


def _plain(value: Any) -> Any:
    """A JSON-ready copy: dates as ISO text, numpy/Decimal as numbers, NaN and infinities as null."""
    if value is None or isinstance(value, str | bool | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Decimal):
        return _plain(float(value))
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, set | frozenset):
        return [_plain(v) for v in sorted(value, key=str)]
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, datetime | date):
        return value.isoformat()
    if hasattr(value, "item") and callable(value.item):
        try:
            return _plain(value.item())  # numpy scalars
        except (TypeError, ValueError):
            pass
    for method in ("tolist", "to_list"):  # numpy arrays, polars series
        if hasattr(value, method):
            return _plain(getattr(value, method)())
    return str(value)


def _dumps(value: Any) -> str:
    return json.dumps(_plain(value), ensure_ascii=False)


def _loads(text: str | None) -> Any:
    return None if text is None else json.loads(text)
