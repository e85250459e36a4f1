"""The radar's own moves in a crisis's lifecycle: recovered, reopened, escalated (issue 20).

``record_scan`` (``metrics.crises.log``) calls these inside its transaction; people's moves live in
``metrics.crises.handling``. Grain: one crisis row per call. All of it runs on the data's clock:
``as_of`` is the scan's moment, the data's as-of, never the wall clock.

* **Recovered.** An open crisis back inside its limits for the rules' ``recovery_periods`` leaves the
  open list as ``recovered``: the radar cannot know the customers are satisfied again, so a person
  still confirms it (``confirm_recovery``), as step 5 of the handling process asks. The status it
  had is kept in ``status_before_recovery``.
* **Reopened.** A recovered crisis flagged again before anyone confirmed it goes back to that status
  (a ``status_changed`` event by the radar): the people who had it in hand still have it.
* **Escalated.** A crisis nobody acknowledged within its severity's allowance (``[lifecycle]`` of
  crisis_rules.toml), counted on the data's clock from the scan that first logged it (``raised_at``:
  when people could first see it, so a late export brings no crisis already overdue), escalates
  once: an ``escalated`` event and its severity one level up (critical stays critical). Later scans
  keep that step: the radar's grade plus one (``graded``).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, time, timedelta
from typing import Any

import duckdb

from metrics.crises.log_rows import (
    OPEN_STATUSES,
    RECOVERED,
    CrisisLogError,
    add_event,
    add_severity_history,
    fetch_rows,
    joined,
    period_start,
    update_crisis,
)
from metrics.crises.model import SEVERITIES, DetectedCrisis
from metrics.crises.rules import rules


def acknowledge_allowances(table: Mapping[str, Any] | None = None) -> dict[str, timedelta]:
    """How long each severity may wait for an acknowledgement, from ``[lifecycle]`` of the rules.

    Severities the table leaves out never escalate. A bad value is a one-line ``CrisisLogError``.
    """
    table = rules().get("lifecycle", {}) if table is None else table
    hours = table.get("acknowledge_within_hours", {})
    allowances = {}
    for severity, value in hours.items():
        if severity not in SEVERITIES:
            raise CrisisLogError(f"[lifecycle]: unknown severity {severity!r}; expected {joined(SEVERITIES)}")
        if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
            raise CrisisLogError(f"[lifecycle] {severity}: a positive number of hours is needed, not {value!r}")
        allowances[severity] = timedelta(hours=value)
    return allowances


def graded(severity: str, escalated: bool) -> str:
    """The severity a crisis carries: the radar's grade, one level up once it escalated."""
    if not escalated:
        return severity
    return SEVERITIES[min(SEVERITIES.index(severity) + 1, len(SEVERITIES) - 1)]


def count_recovery(con: duckdb.DuckDBPyConnection, row: dict, as_of: datetime, actor: str, needed: int) -> bool:
    """Count this period as back inside limits (once per period); True when the crisis newly recovered.

    Once ``needed`` periods are counted an open crisis becomes ``recovered`` (a ``recovery_proposed``
    event, from its status to ``recovered``). It never resolves anything: a person confirms.
    """
    period = period_start(as_of.date(), row["grain"])
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
        if row["status"] in OPEN_STATUSES:
            sets.update(status=RECOVERED, status_before_recovery=row["status"])
        add_event(
            con,
            row["crisis_id"],
            as_of,
            actor,
            "recovery_proposed",
            row["status"],
            sets.get("status", row["status"]),
            f"back inside limits for {periods} {row['grain']} period{'s' if periods != 1 else ''}; "
            "off the open list until a person confirms the recovery",
        )
    update_crisis(con, row["crisis_id"], sets)
    return proposed


def reopen(con: duckdb.DuckDBPyConnection, row: dict, crisis: DetectedCrisis, as_of: datetime, actor: str) -> dict:
    """The columns that put a recovered crisis flagged again back where it was, with its event; {} if open."""
    if row["status"] != RECOVERED:
        return {}
    back = row["status_before_recovery"] if row["status_before_recovery"] in OPEN_STATUSES else "detected"
    add_event(
        con,
        row["crisis_id"],
        as_of,
        actor,
        "status_changed",
        RECOVERED,
        back,
        f"flagged again at {crisis.last_flagged} before its recovery was confirmed: back on the open list",
    )
    return {"status": back, "status_before_recovery": None}


def escalate_overdue(
    con: duckdb.DuckDBPyConnection, as_of: datetime, actor: str, allowances: Mapping[str, timedelta]
) -> int:
    """Escalate, once each, the crises still ``detected`` past their severity's allowance; how many did."""
    escalated = 0
    rows = fetch_rows(con, "SELECT * FROM crises WHERE status = 'detected' AND escalated_at IS NULL ORDER BY crisis_id")
    for row in rows:
        allowance = allowances.get(row["severity"])
        raised = row["raised_at"] or datetime.combine(row["start_period"], time(), tzinfo=UTC)
        if allowance is None or as_of < raised + allowance:
            continue
        after = graded(row["severity"], escalated=True)
        note = (
            f"not acknowledged within {_duration(allowance)} of being raised "
            f"({raised:%Y-%m-%d %H:%M} UTC in the data); severity {row['severity']} → {after}"
        )
        add_event(con, row["crisis_id"], as_of, actor, "escalated", row["severity"], after, note)
        if after != row["severity"]:
            add_severity_history(con, row["crisis_id"], row["last_flagged"], after, f"escalated: {note}", as_of)
        update_crisis(con, row["crisis_id"], {"severity": after, "escalated_at": as_of, "updated_at": as_of})
        escalated += 1
    return escalated


def _duration(allowance: timedelta) -> str:
    hours = allowance.total_seconds() / 3600
    if hours <= 24 or hours % 24:
        return f"{hours:g} h"
    return f"{hours / 24:g} days"
