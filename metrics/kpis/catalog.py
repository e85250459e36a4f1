"""The KPI catalog (metrics/kpis/catalog.toml) as typed data, plus the sources and dimensions it may use."""

from __future__ import annotations

import hashlib
import re
import tomllib
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from metrics.kpis.formats import FORMATS

CATALOG_FILE = Path(__file__).parent / "catalog.toml"

KINDS = ("proportion", "ratio", "quantile", "mean", "nps", "count", "backlog")
DIRECTIONS = ("higher", "lower", "neutral")
GRAINS = ("day", "week", "month", "quarter")

REQUIRED_FIELDS = {
    "proportion": ("source", "time", "numerator"),
    "ratio": ("numerator_source", "numerator_time", "denominator_source", "denominator_time"),
    "quantile": ("source", "time", "duration", "quantile"),
    "mean": ("source", "time", "value"),
    "nps": ("source", "time", "value"),
    "count": ("source", "time"),
    "backlog": ("aggregate",),
}


@dataclass(frozen=True)
class Dimension:
    """A column every source can be broken down by, and where the dashboard offers it."""

    name: str
    filter: bool = False  # a global filter of the sidebar (agent and category are too fine for one)
    split: bool = False  # a split of the Trends chart
    service_levels: bool = False  # a table of the Service levels page


# The one list of dimensions, in the order the cube, the tables and the filters list them (extra
# source attributes are "attr:NAME" besides these). Everything else that names dimensions derives from it.
DIMENSION_LIST = (
    Dimension("channel", filter=True, split=True, service_levels=True),
    Dimension("category", split=True),
    Dimension("team", filter=True, split=True, service_levels=True),
    Dimension("agent"),
    Dimension("product", filter=True, split=True),
    Dimension("region", filter=True, split=True),
    Dimension("customer_tier", filter=True, split=True),
)
DIMENSIONS = tuple(d.name for d in DIMENSION_LIST)
FILTER_DIMENSIONS = tuple(d.name for d in DIMENSION_LIST if d.filter)
# The Trends page offers the sidebar's filters first, then the splits too fine to filter by.
SPLIT_DIMENSIONS = FILTER_DIMENSIONS + tuple(d.name for d in DIMENSION_LIST if d.split and not d.filter)
SERVICE_LEVEL_DIMENSIONS = tuple(d.name for d in DIMENSION_LIST if d.service_levels)

# Each source is one row per fact, with the time columns and every dimension. The survey and
# complaint sources borrow dimensions they lack from the ticket they belong to.
SOURCES = {
    "tickets": "SELECT * FROM tickets",
    "inquiries": "SELECT * FROM tickets WHERE NOT coalesce(is_complaint, false)",
    # The complaint-rate denominator the conventions choose: tickets, customers or uploaded orders.
    "complaint_denominator": "{complaint_denominator_source}",
    "tickets_fcr": """
        SELECT *, {fcr_expression} AS fcr FROM tickets""",
    "surveys": """
        SELECT s.response_id, s.responded_at, s.survey_type, s.score, s.scale, s.is_satisfied,
               s.ticket_id, t.channel, t.category, t.team, t.agent, t.product, t.region, t.customer_tier,
               t.customer_id, coalesce(s.attributes, t.attributes) AS attributes, s.batch_id
        FROM survey_responses s LEFT JOIN tickets t ON t.ticket_id = s.ticket_id""",
    "complaints": """
        SELECT c.complaint_id, c.created_at, c.first_response_at, c.resolved_at,
               coalesce(c.channel, t.channel) AS channel, coalesce(c.category, t.category) AS category,
               coalesce(c.team, t.team) AS team, t.agent, coalesce(c.product, t.product) AS product,
               coalesce(c.region, t.region) AS region, t.customer_tier,
               coalesce(c.customer_id, t.customer_id) AS customer_id, c.text AS complaint_text, c.attributes,
               c.batch_id
        FROM complaints c LEFT JOIN tickets t ON t.ticket_id = c.ticket_id
        UNION ALL
        SELECT t.ticket_id, t.created_at, t.first_response_at, t.resolved_at, t.channel, t.category, t.team,
               t.agent, t.product, t.region, t.customer_tier, t.customer_id, NULL AS complaint_text, t.attributes,
               t.batch_id
        FROM tickets t
        WHERE t.is_complaint AND NOT EXISTS (SELECT 1 FROM complaints c WHERE c.ticket_id = t.ticket_id)""",
}
# Where complaints are known to have been recorded: every complaint, and every ticket of an export
# saying which tickets are complaints. A period with none has no complaint data, not zero complaints.
SOURCES["complaint_evidence"] = f"""
    SELECT created_at, channel, category, team, agent, product, region, customer_tier, customer_id, attributes
    FROM ({SOURCES["complaints"]})
    UNION ALL
    SELECT created_at, channel, category, team, agent, product, region, customer_tier, customer_id, attributes
    FROM tickets WHERE NOT is_complaint OR batch_id IN (SELECT batch_id FROM tickets WHERE is_complaint IS NOT NULL)"""


@dataclass(frozen=True)
class Input:
    """What a metric cannot be computed without: rows of ``source`` where ``known`` holds."""

    name: str
    known: str  # SQL, true on a row that has the input
    missing: str  # what a record without it says, naming the column that would give it
    source: str | None = None  # None: the metric's own source (a ratio's denominator source)
    column: str | None = None  # the column of ``tables`` whose exports (batches) give the input
    tables: tuple[str, ...] = ()

    def source_for(self, m: Metric) -> str:
        return self.source or m.get("source") or m.get("denominator_source")

    def time_for(self, m: Metric) -> str:
        """The moment the input's rows are dated by: as the metric dates that source, else the source's own."""
        source = self.source_for(m)
        for side in ("", "numerator_", "denominator_"):
            if m.get(f"{side}source") == source:
                return m.get(f"{side}time")
        return "responded_at" if source == "surveys" else "created_at"


@dataclass(frozen=True)
class Metric:
    name: str
    label: str
    label_zh: str
    description: str
    kind: str
    format: str
    direction: str
    fields: dict = field(default_factory=dict)

    def get(self, key: str, default=None):
        return self.fields.get(key, default)

    @property
    def is_interval_metric(self) -> bool:
        return self.kind in ("proportion", "ratio", "quantile", "mean", "nps")

    def explain(self, conventions: dict[str, str]) -> str:
        """The description with the conventions in force written in."""
        return self.description.replace("{fcr_convention}", conventions["first-contact resolution"]).replace(
            "{reopen_convention}", conventions["reopens"]
        )

    def display_label(self, language: str = "en") -> str:
        return self.label_zh if language == "zh" else self.label

    @property
    def requires(self) -> tuple[Input, ...]:
        """The inputs the metric needs, from the catalog's ``requires``."""
        return tuple(inputs()[name] for name in self.fields["requires"])


def _validate(entry: dict) -> Metric:
    name = entry.get("name", "?")
    for key in ("name", "label", "label_zh", "description", "kind", "format", "direction"):
        if not entry.get(key):
            raise ValueError(f"catalog metric {name}: missing {key}")
    if entry["kind"] not in KINDS:
        raise ValueError(f"catalog metric {name}: unknown kind {entry['kind']}")
    if entry["format"] not in FORMATS or entry["direction"] not in DIRECTIONS:
        raise ValueError(f"catalog metric {name}: bad format or direction")
    missing = [f for f in REQUIRED_FIELDS[entry["kind"]] if f not in entry]
    if missing:
        raise ValueError(f"catalog metric {name}: kind {entry['kind']} needs {', '.join(missing)}")
    unknown = [r for r in entry.get("requires", ()) if r not in inputs()]
    if not entry.get("requires") or unknown:
        raise ValueError(f"catalog metric {name}: requires must name its inputs, declared under [inputs]")
    for key in ("source", "numerator_source", "denominator_source"):
        if key in entry and entry[key] not in SOURCES:
            raise ValueError(f"catalog metric {name}: unknown {key} {entry[key]}")
    core = {"name", "label", "label_zh", "description", "kind", "format", "direction"}
    return Metric(
        name=entry["name"],
        label=entry["label"],
        label_zh=entry["label_zh"],
        description=entry["description"],
        kind=entry["kind"],
        format=entry["format"],
        direction=entry["direction"],
        fields={k: v for k, v in entry.items() if k not in core},
    )


@cache
def _catalog_data() -> dict:
    return tomllib.loads(CATALOG_FILE.read_text(encoding="utf-8"))


@cache
def catalog_version() -> str:
    """Changes with any definition in catalog.toml (a cube built from other definitions no longer answers)."""
    return hashlib.sha256(CATALOG_FILE.read_bytes()).hexdigest()[:16]


@cache
def inputs() -> dict[str, Input]:
    """Every input metrics may require, by name."""
    found = {}
    for name, entry in _catalog_data().get("inputs", {}).items():
        column, tables = entry.get("column"), tuple(entry.get("tables", ()))
        if not (entry.get("known") or column) or not entry.get("missing") or bool(column) != bool(tables):
            raise ValueError(f"catalog input {name}: needs missing, and known or a column of some tables")
        if entry.get("source") is not None and entry["source"] not in SOURCES:
            raise ValueError(f"catalog input {name}: unknown source {entry['source']}")
        known = entry.get("known") or f"({column} IS NOT NULL OR {{export_fills:{column}}})"
        found[name] = Input(name, known, entry["missing"], entry.get("source"), column, tables)
    return found


def export_fills(column: str) -> str:
    """SQL true on a row whose export (batch) fills ``column`` in some row of the tables that have it."""
    tables = sorted({t for i in inputs().values() if i.column == column for t in i.tables}) or ["tickets"]
    # DISTINCT: the few batch ids, not one per row, go into the IN's hash table (3x less CPU for an SLA's raw days).
    batches = " UNION ".join(f"SELECT DISTINCT batch_id FROM {t} WHERE {column} IS NOT NULL" for t in tables)
    return f"batch_id IN ({batches})"


@cache
def catalog() -> dict[str, Metric]:
    """Every metric in catalog.toml, by name, in declaration order."""
    data = _catalog_data()
    metrics = [_validate(entry) for entry in data["metrics"]]
    names = [m.name for m in metrics]
    if len(set(names)) != len(names):
        raise ValueError("catalog: duplicate metric names")
    return {m.name: m for m in metrics}


def metric(name: str) -> Metric:
    """One metric by name, or a ValueError listing the known names."""
    metrics = catalog()
    if name not in metrics:
        raise ValueError(f"unknown metric {name!r}; known: {', '.join(metrics)}")
    return metrics[name]


def dimension_expression(dimension: str) -> str:
    """SQL for a dimension: a canonical column, or ``attr:NAME`` for an extra source attribute."""
    if dimension in DIMENSIONS:
        return dimension
    if dimension.startswith("attr:") and re.fullmatch(r"[\w .\-]+", dimension[5:]):
        key = dimension[5:].replace("'", "''")
        return f"(attributes->>'{key}')"
    raise ValueError(f"unknown dimension {dimension!r}; use one of {', '.join(DIMENSIONS)} or attr:NAME")
