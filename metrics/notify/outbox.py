"""Crisis events to messages, exactly once per event and destination: the outbox of migration 016.

Which events are told (``qualifying_sql``), at or above the configured ``min_severity``:

* ``detected``: a new crisis, at the severity it was detected with;
* ``severity_changed``: a rise ending at or above the threshold (a fall is not news);
* ``escalated``: not acknowledged in time, at the severity it escalated to (a crisis detected and
  escalated by the same scan is told once, by its escalation);
* ``recovery_proposed``: back inside limits, when the crisis was ever at or above the threshold.

No flood of old news, by two rules. A destination is told only events logged after it was first
configured: the first run that sees it (``NotifyRun.start``, called before that run's scan) notes
the log's last event, so the scan that follows is told and the history before is not. And an event
of a crisis last flagged more than ``recent_days`` before the event (a load's history scan logging
crises of last year) is never told.

Each qualifying (event, destination) pair gets one outbox row; the next run finds it and sends
nothing again. A failed delivery keeps its one-line reason and is retried on each later run, up to
``max_attempts``; then it is given up. Every sent message, and every one given up, is also a
``notified`` event in the crisis's history.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import duckdb

from metrics.crises.log_rows import add_event, fetch_rows
from metrics.crises.model import SEVERITIES
from metrics.notify.config import EmailDestination, NotifyConfig, WebhookDestination
from metrics.notify.messages import crisis_message, trial_message
from metrics.notify.senders import DeliveryError, send
from pipelines.warehouse.store import transaction

TOLD_ACTIONS = ("detected", "severity_changed", "escalated", "recovery_proposed")


@dataclass(frozen=True)
class Delivery:
    """One attempt to deliver one message to one destination."""

    destination: str
    subject: str
    ok: bool
    error: str | None = None
    crisis_id: int | None = None
    attempt: int = 1
    gave_up: bool = False

    def line(self, max_attempts: int | None = None) -> str:
        if self.ok:
            return f"sent      {self.destination}: {self.subject}"
        if self.gave_up or max_attempts is None:
            return f"failed    {self.destination}: {self.subject}: {self.error}"
        return (
            f"failed    {self.destination}: {self.subject}: {self.error} "
            f"(attempt {self.attempt} of {max_attempts}; retried on the next scan)"
        )


@dataclass
class NotifyRun:
    """Notifications of one scan: ``start`` before it is recorded, ``deliver`` after; what went out stays here."""

    config: NotifyConfig
    deliveries: list[Delivery] = field(default_factory=list)

    def start(self, con: duckdb.DuckDBPyConnection) -> None:
        """A destination seen for the first time starts from the log as it stands now, before this scan."""
        for destination in self.config.destinations:
            con.execute(
                "INSERT INTO notification_destinations "
                "SELECT ?, coalesce((SELECT max(event_id) FROM crisis_events), 0), now() ON CONFLICT DO NOTHING",
                [destination.key],
            )

    def deliver(self, con: duckdb.DuckDBPyConnection, as_of: datetime) -> list[Delivery]:
        """Queue the events newly qualified, then send every message due; returns this call's deliveries.

        ``as_of`` (the data's now) stamps the ``notified`` events. Never raises for a message that
        did not arrive: the outbox keeps the reason and a later run tries again.
        """
        self.start(con)  # a destination added since this run began is not told the backlog either
        with transaction(con):
            for destination in self.config.destinations:
                _queue(con, self.config, destination.key)
        done = [_send_one(con, self.config, row, as_of) for row in _due(con, self.config)]
        self.deliveries.extend(done)
        return done

    def summary(self) -> str:
        sent = sum(d.ok for d in self.deliveries)
        failed = len(self.deliveries) - sent
        words = f"{sent} notification{'s' if sent != 1 else ''} sent"
        return words + (f", {failed} failed (retried on the next scan)" if failed else "")


def send_trial(config: NotifyConfig) -> list[Delivery]:
    """A test message to every configured destination, one result each; nothing is recorded."""
    results = []
    for destination in config.destinations:
        message = trial_message(config.source, destination.key, config.dashboard_url)
        try:
            send(destination, message, config.timeout_seconds)
        except DeliveryError as exc:
            results.append(Delivery(destination.key, message.title, False, str(exc), gave_up=True))
        else:
            results.append(Delivery(destination.key, message.title, True))
    return results


def outbox(con: duckdb.DuckDBPyConnection) -> list[dict]:
    """Every outbox row, in the order the events happened."""
    return fetch_rows(con, "SELECT * FROM notification_outbox ORDER BY event_id, destination")


def _rank(expression: str) -> str:
    """The severity's place in SEVERITIES (0 = observe), NULL for anything else."""
    cases = " ".join(f"WHEN '{name}' THEN {place}" for place, name in enumerate(SEVERITIES))
    return f"(CASE {expression} {cases} END)"


def qualifying_sql() -> str:
    """The events after a destination's first event (?) of crises flagged within ? days, with their level."""
    actions = ", ".join(f"'{a}'" for a in TOLD_ACTIONS)
    return f"""
        SELECT e.event_id, e.crisis_id,
               CASE e.action
                   WHEN 'detected' THEN coalesce({_rank("split_part(e.note, ':', 1)")}, {_rank("c.severity")})
                   WHEN 'severity_changed' THEN CASE WHEN {_rank("e.to_value")} > coalesce({_rank("e.from_value")}, -1)
                                                     THEN {_rank("e.to_value")} END
                   WHEN 'escalated' THEN coalesce({_rank("e.to_value")}, {_rank("c.severity")})
                   WHEN 'recovery_proposed' THEN greatest({_rank("c.severity")}, coalesce(h.worst, -1))
               END AS level
        FROM crisis_events e
        JOIN crises c ON c.crisis_id = e.crisis_id
        LEFT JOIN (SELECT crisis_id, max({_rank("severity")}) AS worst
                   FROM crisis_severity_history GROUP BY crisis_id) h ON h.crisis_id = e.crisis_id
        WHERE e.action IN ({actions}) AND e.event_id > ?
          AND date_diff('day', c.last_flagged, CAST(e."at" AS DATE)) <= ?
          -- A crisis logged late (a history scan, a scan after days without one) may be detected and
          -- escalated by the same scan: one message, the escalation's, which names the new severity.
          AND NOT (e.action = 'detected' AND EXISTS (
              SELECT 1 FROM crisis_events x
              WHERE x.crisis_id = e.crisis_id AND x.action = 'escalated' AND x."at" = e."at"))
    """


def _queue(con: duckdb.DuckDBPyConnection, config: NotifyConfig, key: str) -> None:
    level_names = "[" + ", ".join(f"'{s}'" for s in SEVERITIES) + "]"
    con.execute(
        f"""INSERT INTO notification_outbox (event_id, destination, crisis_id, severity, status, attempts, queued_at)
            SELECT q.event_id, ?, q.crisis_id, {level_names}[q.level + 1], 'pending', 0, now()
            FROM ({qualifying_sql()}) q
            WHERE q.level >= ? AND NOT EXISTS (
                SELECT 1 FROM notification_outbox o WHERE o.event_id = q.event_id AND o.destination = ?)""",
        [
            key,
            _from_event(con, key),
            config.recent_days,
            SEVERITIES.index(config.min_severity),
            key,
        ],
    )


def _from_event(con: duckdb.DuckDBPyConnection, key: str) -> int:
    return con.sql(
        "SELECT from_event_id FROM notification_destinations WHERE destination = ?", params=[key]
    ).fetchall()[0][0]


def _due(con: duckdb.DuckDBPyConnection, config: NotifyConfig) -> list[dict]:
    """The outbox rows of configured destinations still to send, each with its event and crisis."""
    keys = [d.key for d in config.destinations]
    marks = ", ".join("?" for _ in keys)
    return fetch_rows(
        con,
        f"""SELECT o.destination, o.severity AS told_severity, o.attempts, e.event_id, e.action, e.from_value,
                   e.to_value, e.note, e."at", c.crisis_id, c.metric, c.dimension, c.segment, c.type,
                   c.severity_reason, c.grain, c.start_period, c.last_flagged, c.status
            FROM notification_outbox o
            JOIN crisis_events e ON e.event_id = o.event_id
            JOIN crises c ON c.crisis_id = o.crisis_id
            WHERE o.status IN ('pending', 'failed') AND o.attempts < ? AND o.destination IN ({marks})
            ORDER BY e.event_id, o.destination""",
        [config.max_attempts, *keys],
    )


def _send_one(con: duckdb.DuckDBPyConnection, config: NotifyConfig, row: dict, as_of: datetime) -> Delivery:
    destination = _destination(config, row["destination"])
    message = crisis_message(row, row["told_severity"], config.crisis_link(row["crisis_id"]))
    attempt = row["attempts"] + 1
    try:
        send(destination, message, config.timeout_seconds)
        error = None
    except DeliveryError as exc:
        error = str(exc)
    gave_up = error is not None and attempt >= config.max_attempts
    status = "sent" if error is None else "gave_up" if gave_up else "failed"
    with transaction(con):
        con.execute(
            "UPDATE notification_outbox SET status = ?, attempts = ?, last_error = ?, subject = ?, "
            "sent_at = CASE WHEN ? = 'sent' THEN now() END WHERE event_id = ? AND destination = ?",
            [status, attempt, error, message.title, status, row["event_id"], row["destination"]],
        )
        if error is None or gave_up:
            note = (
                destination.key
                if error is None
                else f"{destination.key}: not delivered after {attempt} attempts: {error}"
            )
            outcome = "sent" if error is None else "not delivered"
            add_event(con, row["crisis_id"], as_of, "notify", "notified", row["action"], outcome, note)
    return Delivery(destination.key, message.title, error is None, error, row["crisis_id"], attempt, gave_up)


def _destination(config: NotifyConfig, key: str) -> EmailDestination | WebhookDestination:
    return next(d for d in config.destinations if d.key == key)
