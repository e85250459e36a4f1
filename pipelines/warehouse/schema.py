"""Canonical warehouse tables as data: one place that names every column and its type.

Grain of each table:
- ``tickets``: one row per ticket (key ``ticket_id``)
- ``survey_responses``: one row per survey answer (key ``response_id``)
- ``complaints``: one row per complaint (key ``complaint_id``)
- ``order_counts``: one row per day and segment (the optional complaint-rate denominator)
"""

from __future__ import annotations

from dataclasses import dataclass

KINDS = ("tickets", "surveys", "complaints", "orders")


@dataclass(frozen=True)
class Column:
    name: str
    sql_type: str
    description: str


@dataclass(frozen=True)
class Table:
    kind: str
    name: str
    key: str
    grain: str
    columns: tuple[Column, ...]

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    def column(self, name: str) -> Column:
        return next(c for c in self.columns if c.name == name)


def _cols(*specs: tuple[str, str, str]) -> tuple[Column, ...]:
    return tuple(Column(*spec) for spec in specs)


TICKETS = Table(
    kind="tickets",
    name="tickets",
    key="ticket_id",
    grain="one row per ticket",
    columns=_cols(
        ("ticket_id", "VARCHAR", "Ticket identifier from the source system"),
        ("created_at", "TIMESTAMPTZ", "When the customer opened the ticket (UTC)"),
        ("first_response_at", "TIMESTAMPTZ", "First agent reply (UTC)"),
        ("resolved_at", "TIMESTAMPTZ", "When the ticket was solved (UTC)"),
        ("closed_at", "TIMESTAMPTZ", "When the ticket was closed (UTC)"),
        ("status", "VARCHAR", "open, pending, resolved or closed (other source values kept lower-cased)"),
        ("channel", "VARCHAR", "Contact channel: email, phone, chat, web, social..."),
        ("category", "VARCHAR", "Ticket category or type"),
        ("priority", "VARCHAR", "Priority as the source states it"),
        ("team", "VARCHAR", "Group or team that handled the ticket"),
        ("agent", "VARCHAR", "Assigned agent"),
        ("customer_id", "VARCHAR", "Requester or customer identifier"),
        ("customer_tier", "VARCHAR", "Customer segment, e.g. key account or standard"),
        ("region", "VARCHAR", "Region, state or city"),
        ("product", "VARCHAR", "Product or service concerned"),
        ("is_complaint", "BOOLEAN", "Whether the ticket is a complaint"),
        ("reopen_count", "INTEGER", "Times the ticket was reopened"),
        ("agent_replies", "INTEGER", "Number of agent replies, where the export has it"),
    ),
)

SURVEYS = Table(
    kind="surveys",
    name="survey_responses",
    key="response_id",
    grain="one row per survey answer",
    columns=_cols(
        ("response_id", "VARCHAR", "Survey answer identifier"),
        ("ticket_id", "VARCHAR", "Ticket the survey was sent for"),
        ("responded_at", "TIMESTAMPTZ", "When the customer answered (UTC)"),
        ("survey_type", "VARCHAR", "csat, nps or ces"),
        ("score", "DOUBLE", "The answer on its own scale"),
        ("scale", "VARCHAR", "1-5, 1-7, 0-10 or good-bad"),
        ("is_satisfied", "BOOLEAN", "Top two boxes of the answer's own scale"),
        ("comment", "VARCHAR", "Free-text comment"),
        ("dim_tangibles", "DOUBLE", "SERVQUAL tangibles score"),
        ("dim_reliability", "DOUBLE", "SERVQUAL reliability score"),
        ("dim_responsiveness", "DOUBLE", "SERVQUAL responsiveness score"),
        ("dim_assurance", "DOUBLE", "SERVQUAL assurance score"),
        ("dim_empathy", "DOUBLE", "SERVQUAL empathy score"),
    ),
)

COMPLAINTS = Table(
    kind="complaints",
    name="complaints",
    key="complaint_id",
    grain="one row per complaint",
    columns=_cols(
        ("complaint_id", "VARCHAR", "Complaint identifier"),
        ("ticket_id", "VARCHAR", "Ticket the complaint belongs to, if any"),
        ("created_at", "TIMESTAMPTZ", "When the complaint was received (UTC)"),
        ("first_response_at", "TIMESTAMPTZ", "First response to the complainant (UTC)"),
        ("resolved_at", "TIMESTAMPTZ", "When the complaint was resolved (UTC)"),
        ("status", "VARCHAR", "open, pending, resolved or closed (other source values kept lower-cased)"),
        ("category", "VARCHAR", "Cause or category of the complaint"),
        ("channel", "VARCHAR", "Channel the complaint came through"),
        ("product", "VARCHAR", "Product or service concerned"),
        ("region", "VARCHAR", "Region, state or city"),
        ("team", "VARCHAR", "Team handling the complaint"),
        ("customer_id", "VARCHAR", "Complainant identifier"),
        ("severity", "VARCHAR", "Severity as the source states it"),
        ("text", "VARCHAR", "Complaint text or summary"),
    ),
)

ORDERS = Table(
    kind="orders",
    name="order_counts",
    key="order_count_id",
    grain="one row per day and segment",
    columns=_cols(
        ("order_count_id", "VARCHAR", "Day and segment, derived at ingest"),
        ("created_at", "TIMESTAMPTZ", "Start of the day the orders were placed (UTC)"),
        ("orders", "BIGINT", "Orders placed that day in that segment"),
        ("channel", "VARCHAR", "Sales or contact channel"),
        ("product", "VARCHAR", "Product or service"),
        ("region", "VARCHAR", "Region"),
        ("team", "VARCHAR", "Team responsible"),
    ),
)

TABLES: dict[str, Table] = {t.kind: t for t in (TICKETS, SURVEYS, COMPLAINTS, ORDERS)}

# The columns the KPIs break down and filter by (metrics/kpis/catalog.py DIMENSION_LIST, which
# a test keeps equal): their values are segments, one spelling each (pipelines/stage/spellings.py).
SEGMENT_COLUMNS = ("channel", "category", "team", "agent", "product", "region", "customer_tier")

TIMESTAMP_COLUMNS = {c.name for t in TABLES.values() for c in t.columns if c.sql_type == "TIMESTAMPTZ"}


def event_columns(table: Table) -> tuple[str, ...]:
    """The columns saying when something happened to a record; the latest of them is the moment its export describes.

    Order counts are a denominator, not events: their days do not move the data's clock.
    """
    if table is ORDERS:
        return ()
    return tuple(c.name for c in table.columns if c.sql_type == "TIMESTAMPTZ")
