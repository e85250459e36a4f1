"""What a notification says: one crisis event in words, as plain text, as each chat's markdown and as JSON.

A message names the event (a new crisis, one that worsened or escalated, one back inside its
limits), then the severity with its one-line reason, the type, the place, the metric, since when,
and the link to the crisis's page. Segments and reasons quote the data: they are made printable
(no control characters) and, for the chats whose markup reads them, escaped.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from metrics.kpis.catalog import metric as catalog_metric
from metrics.kpis.formats import format_period
from pipelines.common.names import printable

HEADLINES = {
    "detected": "New {severity} crisis #{id}",
    "severity_changed": "Crisis #{id} worsened to {severity}",
    "escalated": "Crisis #{id} escalated ({severity}): not acknowledged in time",
    "recovery_proposed": "Crisis #{id} back inside its limits, awaiting confirmation",
}


@dataclass(frozen=True)
class Message:
    """One notification, ready for any destination."""

    title: str
    lines: tuple[tuple[str, str], ...]  # (label, value) pairs, in the order they are read
    link: str | None = None
    link_text: str = "Open in CSAT Radar"
    data: dict[str, Any] = field(default_factory=dict)  # the full event, for the generic JSON webhook

    def plain(self) -> str:
        body = [self.title, "", *(f"{label}: {value}" for label, value in self.lines)]
        return "\n".join(body + ([f"{self.link_text}: {self.link}"] if self.link else []))

    def markdown(self, escape=lambda s: s) -> str:
        """Markdown most chat robots read: a bold title, one line per fact, the link last."""
        body = [f"**{escape(self.title)}**", *(f"- **{label}:** {escape(value)}" for label, value in self.lines)]
        return "\n".join(body + ([f"[{self.link_text}]({self.link})"] if self.link else []))


def crisis_message(event: dict, severity: str, link: str) -> Message:
    """The message of one crisis event; ``event`` holds the crisis_events row joined to its crisis.

    ``severity`` is the event's own (the severity detected, raised to, escalated at, or the worst
    the crisis had when it recovers), as the outbox qualified it.
    """
    crisis_id = int(event["crisis_id"])
    headline = HEADLINES[event["action"]].format(id=crisis_id, severity=severity)
    kind = str(event["type"]).replace("_", " ")
    place = _place(event["dimension"], event["segment"])
    lines = [
        ("Severity", f"{severity}: {_clean(event['severity_reason'])}" if event["severity_reason"] else severity),
        ("Type", kind),
        ("Where", place),
        ("Metric", _metric_label(event["metric"])),
        (
            "Since",
            f"{_day(event['start_period'])}, last flagged {_day(event['last_flagged'])} ({event['grain']} grain)",
        ),
    ]
    if event["action"] == "severity_changed" and event["from_value"]:
        lines.insert(1, ("Was", str(event["from_value"])))
    if event["action"] in ("escalated", "recovery_proposed") and event["note"]:
        lines.append(("What happened", _clean(event["note"])))
    data = {
        "event_id": int(event["event_id"]),
        "action": event["action"],
        "at": _iso(event["at"]),
        "crisis_id": crisis_id,
        "severity": severity,
        "severity_reason": event["severity_reason"],
        "type": event["type"],
        "metric": event["metric"],
        "dimension": event["dimension"],
        "segment": event["segment"],
        "grain": event["grain"],
        "start_period": _iso(event["start_period"]),
        "last_flagged": _iso(event["last_flagged"]),
        "status": event["status"],
        "from_value": event["from_value"],
        "to_value": event["to_value"],
        "note": event["note"],
        "link": link,
    }
    return Message(f"{headline}: {kind} in {place}", tuple(lines), link, f"Open crisis #{crisis_id}", data)


def trial_message(config_source: str, destination: str, dashboard_url: str) -> Message:
    """The message ``csat-radar notify test`` sends: says where it came from and where it went."""
    return Message(
        "CSAT Radar test message",
        (("Destination", destination), ("Configured in", config_source), ("Meaning", "nothing to act on")),
        dashboard_url,
        "Open CSAT Radar",
        {"action": "test", "destination": destination},
    )


def _place(dimension: str, segment: str) -> str:
    return "the whole organisation" if dimension == "overall" else f"{dimension} {_clean(segment)}"


def _metric_label(name: str) -> str:
    try:
        return catalog_metric(name).label
    except ValueError:  # a metric the catalog no longer has still has its name
        return name


def _clean(text: Any) -> str:
    return printable(" ".join(str(text).split()))


def _day(value: date | None) -> str:
    return format_period(value)


def _iso(value: Any) -> Any:
    return value.isoformat() if hasattr(value, "isoformat") else value
