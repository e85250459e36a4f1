"""The handling workflow: what people do with a logged crisis (DOMAIN.md, the five-step process).

People move a crisis forward one step at a time along ``HANDLING_STEPS``: ``acknowledge`` (needs an
owner), ``advance`` (response_plan_active, resolving, resolved), ``confirm_recovery`` (a person
confirms the recovery the radar proposed: straight to resolved from any open status, or from
``recovered``, where the radar puts a crisis back inside its limits long enough) and
``write_review`` (fishbone category, 5 whys, review text: resolved -> reviewed). ``response_steps``
is the recommended response shown beside a crisis. Grain: one crisis per call; every call writes
in one transaction, and on any refusal (``CrisisLogError``) nothing is written.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime
from typing import Any

import duckdb

from metrics.crises.log_rows import (
    CLOSED_STATUSES,
    RECOVERED,
    CrisisLogError,
    add_event,
    as_aware,
    check_status,
    joined,
    load_crisis,
    required_actor,
    to_json,
    update_crisis,
)
from metrics.crises.model import CRISIS_TYPES, FISHBONE_CATEGORIES, HANDLING_STEPS
from pipelines.warehouse.store import transaction

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


def response_steps(crisis_type: str) -> list[str]:
    """The recommended response steps for a crisis type (DOMAIN.md's five-step process, specialised)."""
    if crisis_type not in RESPONSE_STEPS:
        raise CrisisLogError(f"unknown crisis type {crisis_type!r}; expected one of {joined(CRISIS_TYPES)}")
    return list(RESPONSE_STEPS[crisis_type])


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
    at, actor = _stamp(at, actor)
    with transaction(con):
        row = load_crisis(con, crisis_id)
        _check_step(row, "acknowledged")
        owner = owner.strip() if isinstance(owner, str) else ""
        if not owner:
            raise CrisisLogError(f"crisis {row['crisis_id']} needs an owner to be acknowledged")
        sets = {"status": "acknowledged", "owner": owner, "status_before_recovery": None, "updated_at": at}
        update_crisis(con, row["crisis_id"], sets)
        text = f"owner: {owner}" + (f"; {note.strip()}" if note and note.strip() else "")
        add_event(con, row["crisis_id"], at, actor, "acknowledged", row["status"], "acknowledged", text)


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
    at, actor = _stamp(at, actor)
    check_status(to_status)
    with transaction(con):
        row = load_crisis(con, crisis_id)
        _check_step(row, to_status)
        if to_status == "acknowledged":
            raise CrisisLogError(f"crisis {row['crisis_id']} is acknowledged through acknowledge, which names an owner")
        if to_status == "reviewed":
            raise CrisisLogError(
                f"crisis {row['crisis_id']} is reviewed through write_review "
                "(fishbone category, 5 whys and review text)"
            )
        sets: dict[str, Any] = {"status": to_status, "status_before_recovery": None, "updated_at": at}
        if to_status == "resolved" and row["end_period"] is None:
            sets["end_period"] = row["last_flagged"]
        update_crisis(con, row["crisis_id"], sets)
        add_event(con, row["crisis_id"], at, actor, "status_changed", row["status"], to_status, note.strip() or None)


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

    Allowed from any open status and from ``recovered`` (the radar's proposal); not from resolved/reviewed.
    """
    at, actor = _stamp(at, actor)
    with transaction(con):
        row = load_crisis(con, crisis_id)
        if row["status"] in CLOSED_STATUSES:
            raise CrisisLogError(
                f"crisis {row['crisis_id']} is already {row['status']}; there is no recovery to confirm"
            )
        end = end_period or row["last_flagged"]
        if isinstance(end, datetime):
            end = end.date()
        if end < row["start_period"]:
            raise CrisisLogError(f"crisis {row['crisis_id']} cannot end {end}, before it started {row['start_period']}")
        sets = {"status": "resolved", "end_period": end, "status_before_recovery": None, "updated_at": at}
        update_crisis(con, row["crisis_id"], sets)
        if row["recovery_proposed_at"] is not None:
            text = f"ended {end}; back inside limits for {row['recovery_periods']} {row['grain']} period(s)"
        else:
            text = f"ended {end}; confirmed before the radar proposed recovery"
        if note and note.strip():
            text += f"; {note.strip()}"
        add_event(con, row["crisis_id"], at, actor, "recovery_confirmed", row["status"], "resolved", text)


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
    at, actor = _stamp(at, actor)
    with transaction(con):
        row = load_crisis(con, crisis_id)
        crisis = row["crisis_id"]
        if row["status"] == "reviewed":
            raise CrisisLogError(f"crisis {crisis} is already reviewed")
        if row["status"] != "resolved":
            raise CrisisLogError(f"crisis {crisis} is {row['status']}; it can be reviewed only once resolved")
        if fishbone_category not in FISHBONE_CATEGORIES:
            raise CrisisLogError(
                f"unknown fishbone category {fishbone_category!r}; expected one of {joined(FISHBONE_CATEGORIES)}"
            )
        if isinstance(five_whys, str) or not isinstance(five_whys, Iterable):
            raise CrisisLogError(f"the 5 whys of crisis {crisis} must be a list of answers")
        whys = [str(why).strip() for why in five_whys if why is not None and str(why).strip()]
        if not whys:
            raise CrisisLogError(f"the review of crisis {crisis} needs at least one answer to 'why?'")
        if not isinstance(review_text, str) or not review_text.strip():
            raise CrisisLogError(f"the review of crisis {crisis} needs a review text")
        update_crisis(
            con,
            crisis,
            {
                "status": "reviewed",
                "fishbone_category": fishbone_category,
                "five_whys": to_json(whys),
                "actions_taken": (actions_taken or "").strip(),
                "review_text": review_text.strip(),
                "updated_at": at,
            },
        )
        add_event(con, crisis, at, actor, "reviewed", row["status"], "reviewed", f"root cause: {fishbone_category}")


def _stamp(at: datetime | None, actor: str) -> tuple[datetime, str]:
    """When and by whom a step is taken: ``at`` (default now, naive means UTC) and the required actor."""
    return (as_aware(at) if at else datetime.now(UTC)), required_actor(actor, "actor")


def _check_step(row: dict, to_status: str) -> None:
    """Statuses move forward one step at a time; refuse staying, skipping and going back."""
    crisis, current = row["crisis_id"], row["status"]
    if to_status == RECOVERED:
        raise CrisisLogError(f"crisis {crisis} becomes recovered only by the radar, once back inside its limits")
    if current == RECOVERED:
        # A person may still take a recovered crisis in hand (to find out what went wrong before
        # confirming): the steps go on from where it was, and it is back on the open list.
        current = row["status_before_recovery"] if row["status_before_recovery"] in HANDLING_STEPS else "detected"
    here, there = HANDLING_STEPS.index(current), HANDLING_STEPS.index(to_status)
    if there == here:
        raise CrisisLogError(f"crisis {crisis} is already {current}")
    if there < here:
        raise CrisisLogError(f"crisis {crisis} is {current}; it cannot go back to {to_status}")
    if there > here + 1:
        raise CrisisLogError(
            f"crisis {crisis} is {current}; its next step is {HANDLING_STEPS[here + 1]}, it cannot skip to {to_status}"
        )
