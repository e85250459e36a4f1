"""The crisis log as a table: what the radar detected, recorded scan by scan, listed and read back.

Pure DuckDB functions over the tables of migration 003 (``crises``, ``crisis_events``,
``crisis_severity_history``); no streamlit. Grain: one row per crisis, one per scan that found it.
``record_scan`` writes in one transaction: on any refusal or failure nothing is written.

Lifecycle of a crisis:

* ``record_scan`` logs what a detector scan found. A signal for a (metric, dimension, segment, grain)
  that already has an open crisis extends that crisis; otherwise a new crisis opens as ``detected``.
  Open crises the scan no longer flags count periods back inside limits, and after
  ``recovery_periods_needed`` of them the crisis leaves the open list as ``recovered``, awaiting a
  person's confirmation; flagged again before that, it returns to the status it had. A crisis nobody
  acknowledged in time escalates once. The radar never resolves anything. Those moves of the radar
  live in ``metrics.crises.lifecycle``.
* People move a crisis forward one step at a time along ``STATUSES``: that workflow (acknowledge,
  advance, confirm_recovery, write_review) lives in ``metrics.crises.handling``.
* A resolved or reviewed crisis is closed for good: a later signal for the same place opens a new one.

Refusals raise ``CrisisLogError`` (``metrics.crises.log_rows``) with a one-line message meant for the user.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

import duckdb
import polars as pl

from metrics.crises.lifecycle import count_recovery, escalate_overdue, graded, reopen
from metrics.crises.log_rows import (
    CLOSED_STATUSES,
    JSON_COLUMNS,
    OPEN_STATUSES,
    CrisisLogError,
    add_event,
    add_severity_history,
    as_aware,
    check_status,
    fetch_rows,
    from_json,
    joined,
    json_ready,
    load_crisis,
    next_period,
    period_start,
    placeholders,
    required_actor,
    to_json,
    update_crisis,
)
from metrics.crises.model import CRISIS_TYPES, SEVERITIES, DetectedCrisis
from pipelines.warehouse.store import transaction

# --------------------------------------------------------------------------------------- scans


def record_scan(
    con: duckdb.DuckDBPyConnection,
    detected: list[DetectedCrisis],
    as_of: datetime,
    actor: str = "radar",
    recovery_periods_needed: int = 2,
    grain: str | None = None,
    window_from: date | None = None,
    acknowledge_within: Mapping[str, timedelta] | None = None,
) -> dict:
    """Log one detector scan, in one transaction; returns ``{"opened", "extended", "recovery_proposed",
    "escalated"}`` counts.

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
      reaches ``recovery_periods_needed`` the crisis becomes ``recovered`` (``recovery_proposed_at``
      and a ``recovery_proposed`` event): off the open list, awaiting a person; only
      ``confirm_recovery`` resolves. A recovered crisis flagged again returns to the status it had.
      Crises whose ``end_period`` is set are left as they are.
    * With ``acknowledge_within`` (severity -> allowance; ``lifecycle.acknowledge_allowances`` reads the
      rules), a crisis still ``detected`` when ``as_of`` is past its ``raised_at`` plus its severity's
      allowance escalates, once (``lifecycle.escalate_overdue``). Without it nothing escalates.

    The scope is ``grain`` when given, else the grains of ``detected``; a scan that detected nothing
    and names no grain covers every grain. ``as_of`` (naive means UTC) stamps the events and rows.
    ``extended`` counts crises whose ``last_flagged`` moved. Re-running the same scan changes nothing.

    With ``grain`` and ``window_from`` (the first day whose crises the scan reported), the scan's
    window up to ``as_of`` is recorded in ``crisis_scans``: what ``unscanned_history`` reads.
    """
    as_of = as_aware(as_of)
    actor = required_actor(actor, "actor")
    _check_recovery_periods(recovery_periods_needed)
    for crisis in detected:
        _check_detected(crisis)
    scope = {grain} if grain else {d.grain for d in detected}

    # Oldest signal first, so that several runs for one place extend the crisis forward in time.
    ordered = sorted(detected, key=lambda d: (d.last_flagged, d.start, SEVERITIES.index(d.severity)))
    with transaction(con):
        scan = _Scan(con, as_of, actor, recovery_periods_needed, _open_crises_by_place(con))
        for crisis in ordered:
            _take_signal(scan, crisis)
        _count_quiet_crises(scan, scope)
        if acknowledge_within:
            scan.escalated = escalate_overdue(con, as_of, actor, acknowledge_within)
        if grain and window_from is not None:
            con.execute(
                "INSERT INTO crisis_scans VALUES (?, ?, ?, ?, ?, ?, now())",
                [grain, window_from, as_of.date(), as_of, actor, len(detected)],
            )
    return {
        "opened": scan.opened,
        "extended": scan.extended,
        "recovery_proposed": scan.recovery_proposed,
        "escalated": scan.escalated,
    }


def unscanned_history(con: duckdb.DuckDBPyConnection, grain: str, first: date, last: date) -> bool:
    """Whether some day from ``first`` to ``last`` lies in no recorded scan window at ``grain``.

    The windows are few (one per scan), so they are merged here in order of their start.
    """
    windows = con.sql(
        "SELECT window_from, window_to FROM crisis_scans WHERE grain = ? ORDER BY window_from, window_to",
        params=[grain],
    ).fetchall()
    covered_to = first - timedelta(days=1)  # every day up to here lies in some window
    for window_from, window_to in windows:
        if window_from > covered_to + timedelta(days=1):
            break
        covered_to = max(covered_to, window_to)
    return covered_to < last


@dataclass
class _Scan:
    """One scan being recorded: its stamp, the open crises by place, which of them it flags, its counts."""

    con: duckdb.DuckDBPyConnection
    as_of: datetime
    actor: str
    recovery_periods_needed: int
    open_rows: dict[tuple[str, str, str, str], dict]
    flagged: set[int] = field(default_factory=set)  # open crises flagged in the latest period by this scan
    opened: int = 0
    extended: int = 0
    recovery_proposed: int = 0
    escalated: int = 0


def _check_recovery_periods(needed: Any) -> None:
    if isinstance(needed, bool) or not isinstance(needed, int):
        raise CrisisLogError(f"recovery_periods_needed must be a whole number, not {needed!r}")
    if needed < 1:
        raise CrisisLogError(f"recovery_periods_needed must be at least 1, not {needed}")


def _open_crises_by_place(con: duckdb.DuckDBPyConnection) -> dict[tuple[str, str, str, str], dict]:
    """The crises not closed nor ended (open or recovered), keyed by (metric, dimension, segment, grain)."""
    return {
        _key(row): row
        for row in fetch_rows(
            con,
            f"SELECT * FROM crises WHERE status NOT IN ({placeholders(CLOSED_STATUSES)}) AND end_period IS NULL "
            "ORDER BY crisis_id",
            list(CLOSED_STATUSES),
        )
    }


def _take_signal(scan: _Scan, crisis: DetectedCrisis) -> None:
    """Fold one detected signal into the log: open a crisis, extend the open one, or ignore old news."""
    key = (crisis.metric, crisis.dimension, crisis.segment, crisis.grain)
    row = scan.open_rows.get(key)
    if row is None:
        _open_new(scan, crisis)
        return
    if crisis.last_flagged < row["last_flagged"]:
        return  # older news than the log already has
    step_days = 7 if crisis.grain == "week" else 1
    if (crisis.start - row["last_flagged"]).days > step_days * (scan.recovery_periods_needed + 1):
        # Quiet long enough in between: that crisis is over (a person still confirms it), this one is new.
        if count_recovery(scan.con, row, scan.as_of, scan.actor, scan.recovery_periods_needed):
            scan.recovery_proposed += 1
        _open_new(scan, crisis)
        return
    if _extend(scan.con, row, crisis, scan.as_of, scan.actor):
        scan.extended += 1
    scan.open_rows[key] = load_crisis(scan.con, row["crisis_id"])
    if crisis.ongoing:
        scan.flagged.add(row["crisis_id"])
    else:
        scan.flagged.discard(row["crisis_id"])


def _open_new(scan: _Scan, crisis: DetectedCrisis) -> None:
    crisis_id = _open(scan.con, crisis, scan.as_of, scan.actor)
    if crisis_id is None:
        return
    scan.opened += 1
    scan.open_rows[(crisis.metric, crisis.dimension, crisis.segment, crisis.grain)] = load_crisis(scan.con, crisis_id)
    if crisis.ongoing:
        scan.flagged.add(crisis_id)


def _count_quiet_crises(scan: _Scan, scope: set[str]) -> None:
    """Open crises of the scan's grains that it did not flag count one more period back inside limits."""
    for row in sorted(scan.open_rows.values(), key=lambda r: r["crisis_id"]):
        if row["crisis_id"] in scan.flagged or (scope and row["grain"] not in scope):
            continue
        if count_recovery(scan.con, row, scan.as_of, scan.actor, scan.recovery_periods_needed):
            scan.recovery_proposed += 1


def _check_detected(crisis: DetectedCrisis) -> None:
    where = f"{crisis.metric} / {crisis.dimension} = {crisis.segment}"
    for name in ("metric", "dimension", "segment", "grain"):
        value = getattr(crisis, name)
        if not isinstance(value, str) or not value.strip():
            raise CrisisLogError(f"detected crisis {where}: {name} is empty")
    if crisis.type not in CRISIS_TYPES:
        raise CrisisLogError(
            f"detected crisis {where}: unknown type {crisis.type!r}; expected one of {joined(CRISIS_TYPES)}"
        )
    if crisis.severity not in SEVERITIES:
        raise CrisisLogError(
            f"detected crisis {where}: unknown severity {crisis.severity!r}; expected one of {joined(SEVERITIES)}"
        )
    if crisis.start > crisis.last_flagged:
        raise CrisisLogError(
            f"detected crisis {where}: starts {crisis.start}, after it was last flagged {crisis.last_flagged}"
        )


def _open(con: duckdb.DuckDBPyConnection, crisis: DetectedCrisis, as_of: datetime, actor: str) -> int | None:
    """Insert a new crisis, or None when the signal belongs to an episode that is already closed."""
    closed_until = fetch_rows(
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
            start = min(next_period(closed_until, crisis.grain), crisis.last_flagged)
    crisis_id = con.sql("SELECT nextval('crisis_id_seq')").fetchall()[0][0]
    con.execute(
        """INSERT INTO crises (crisis_id, metric, dimension, segment, type, type_reason, severity, severity_reason,
               grain, start_period, last_flagged, end_period, status, owner, evidence, contributors, signals,
               recovery_proposed_at, recovery_periods, recovery_counted_period, created_at, updated_at, raised_at)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, 'detected', NULL, ?, ?, ?, NULL, 0, ?, ?, ?, ?)""",
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
            to_json(crisis.evidence),
            to_json(crisis.contributors),
            to_json(crisis.signals),
            period_start(as_of.date(), crisis.grain) if crisis.ongoing else None,
            as_of,
            as_of,
            as_of,  # raised_at: escalation counts from when people could first see it
        ],
    )
    add_severity_history(con, crisis_id, crisis.last_flagged, crisis.severity, crisis.severity_reason, as_of)
    add_event(
        con, crisis_id, as_of, actor, "detected", None, "detected", f"{crisis.severity}: {crisis.severity_reason}"
    )
    return crisis_id


def _extend(con: duckdb.DuckDBPyConnection, row: dict, crisis: DetectedCrisis, as_of: datetime, actor: str) -> bool:
    """Bring an open crisis up to date with this scan's signal; True when last_flagged moved forward."""
    crisis_id = row["crisis_id"]
    sets: dict[str, Any] = {}
    moved = crisis.last_flagged > row["last_flagged"]
    if moved:
        sets["last_flagged"] = crisis.last_flagged
        add_event(
            con,
            crisis_id,
            as_of,
            actor,
            "extended",
            row["last_flagged"].isoformat(),
            crisis.last_flagged.isoformat(),
            f"still flagged at {crisis.last_flagged}",
        )
    severity = graded(crisis.severity, row["escalated_at"] is not None)  # an escalation stays one level up
    if severity != row["severity"]:
        sets["severity"] = severity
        if row["severity"] == "observe":
            # A watch (an early warning) became a crisis: people must take it on from now, not from
            # when it was only watched, so the acknowledgement clock starts here.
            sets["raised_at"] = as_of
        add_severity_history(con, crisis_id, crisis.last_flagged, severity, crisis.severity_reason, as_of)
        add_event(con, crisis_id, as_of, actor, "severity_changed", row["severity"], severity, crisis.severity_reason)
    for name in ("severity_reason", "type", "type_reason"):
        if getattr(crisis, name) != row[name]:
            sets[name] = getattr(crisis, name)
    for name in ("evidence", "contributors", "signals"):
        value = json_ready(getattr(crisis, name))
        if from_json(row[name]) != value:
            sets[name] = to_json(value)
    if moved or crisis.ongoing:
        # Flagged again: recovery starts over (an ongoing flag counts this period as not recovered).
        reset = {
            "recovery_periods": 0,
            "recovery_proposed_at": None,
            "recovery_counted_period": period_start(as_of.date(), row["grain"]) if crisis.ongoing else None,
        }
        sets.update({name: value for name, value in reset.items() if row[name] != value})
        sets.update(reopen(con, row, crisis, as_of, actor))
    if sets:
        sets["updated_at"] = as_of
        update_crisis(con, crisis_id, sets)
    return moved


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
            check_status(value)
        if statuses:
            clauses.append(f"status IN ({placeholders(statuses)})")
            params.extend(statuses)
        else:
            clauses.append("false")
    if type is not None:
        if type not in CRISIS_TYPES:
            raise CrisisLogError(f"unknown crisis type {type!r}; expected one of {joined(CRISIS_TYPES)}")
        clauses.append("type = ?")
        params.append(type)
    if severity is not None:
        if severity not in SEVERITIES:
            raise CrisisLogError(f"unknown severity {severity!r}; expected one of {joined(SEVERITIES)}")
        clauses.append("severity = ?")
        params.append(severity)
    open_sql = f"status IN ({placeholders(OPEN_STATUSES)})"  # recovered is off the open list, not closed
    if open_only:
        clauses.append(open_sql)
        params.extend(OPEN_STATUSES)
    if since is not None:
        clauses.append(f"({open_sql} OR coalesce(end_period, last_flagged) >= ?)")
        params.extend([*OPEN_STATUSES, since])
    where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
    frame = con.sql(
        f"SELECT *, {open_sql} AS is_open FROM crises {where} ORDER BY start_period DESC, crisis_id DESC",
        params=[*OPEN_STATUSES, *params],
    ).pl()
    return frame.sort(["start_period", "crisis_id"], descending=True)


def get_crisis(con: duckdb.DuckDBPyConnection, crisis_id: int) -> dict:
    """The crisis as a dict (JSON columns decoded, ``is_open``) plus ``events`` and ``severity_history`` lists.

    Events come in the order they happened (``event_id``), the severity history by period.
    """
    row = load_crisis(con, crisis_id)
    for name in JSON_COLUMNS:
        row[name] = from_json(row[name])
    row["is_open"] = row["status"] in OPEN_STATUSES
    row["events"] = fetch_rows(
        con, "SELECT * FROM crisis_events WHERE crisis_id = ? ORDER BY event_id", [row["crisis_id"]]
    )
    row["severity_history"] = fetch_rows(
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
        f"AND status IN ({placeholders(OPEN_STATUSES)}) AND end_period IS NULL",
        params=[metric, dimension, segment, grain, *OPEN_STATUSES],
    ).fetchall()[0][0]
    return found > 0


def _key(row: dict) -> tuple[str, str, str, str]:
    return row["metric"], row["dimension"], row["segment"], row["grain"]
