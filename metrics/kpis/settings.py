"""Targets and measuring conventions: the organisation's, read from a TOML file, never hard-coded."""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb

from metrics.kpis.catalog import metric as catalog_metric
from pipelines.common.plausible import earliest_moment
from pipelines.warehouse.store import warehouse_as_of

DEFAULT_FILE = Path(__file__).parent / "default_targets.toml"
TARGETS_ENV = "CSAT_RADAR_TARGETS"


class SettingsError(ValueError):
    """A targets file that cannot be used; the message names the file and the problem."""


@dataclass(frozen=True)
class Target:
    metric: str
    bound: str  # "min" or "max"
    value: float
    dimension: str | None = None
    segment: str | None = None


@dataclass(frozen=True)
class Conventions:
    first_response_clock: str = "created_at"
    first_response_sla_minutes: float = 60
    complaint_sla_hours: float = 24
    hours: str = "calendar"
    business_hours: str = "09:00-18:00"
    business_days: tuple[int, ...] = (1, 2, 3, 4, 5)
    business_time_zone: str = "UTC"
    holidays: tuple[str, ...] = ()
    fcr: str = "one_reply"
    fcr_repeat_days: int = 7
    reopen_counting: str = "once_per_ticket"
    complaint_rate_denominator: str = "tickets"
    report_time_zone: str = "UTC"
    min_sample: int = 30
    communication_keywords: tuple[str, ...] = (
        "information", "misinform", "misled", "mislead", "wrong info", "attitude", "rude", "impolite",
        "language", "信息", "误导", "态度", "沟通",
    )  # fmt: skip

    def describe(self) -> dict[str, str]:
        """The conventions in words, to show beside a number on request."""
        hours = (
            "calendar hours"
            if self.hours == "calendar"
            else f"business hours {self.business_hours} on ISO days {list(self.business_days)} "
            f"({self.business_time_zone}), {len(self.holidays)} holidays"
        )
        fcr = (
            "solved with at most one agent reply"
            if self.fcr == "one_reply"
            else f"no new ticket from the same customer within {self.fcr_repeat_days} days"
        )
        return {
            "first-response clock": f"starts at {self.first_response_clock}, counted in {hours}",
            "first-response SLA": f"{self.first_response_sla_minutes:g} minutes; unanswered past it is a breach now",
            "complaint SLA": f"resolved within {self.complaint_sla_hours:g} hours; open past it is a breach now",
            "first-contact resolution": fcr,
            "reopens": "a ticket counts once however often it was reopened",
            "complaint-rate denominator": {
                "tickets": "tickets created in the period",
                "customers": "unique customers with a ticket in the period",
                "orders": "orders uploaded for the period (csat-radar ingest --kind orders)",
            }[self.complaint_rate_denominator],
            "periods": f"cut in {self.report_time_zone}; weeks start on Monday",
            "small sample": f"fewer than {self.min_sample} observations",
            "communication complaints": "category or text mentions " + ", ".join(self.communication_keywords),
            "intervals": "95% Wilson for proportions; order-statistic (distribution-free) for medians and p90",
        }


@dataclass(frozen=True)
class Settings:
    targets: tuple[Target, ...]
    conventions: Conventions
    source: str
    as_of: datetime = field(default_factory=lambda: datetime.now(UTC))
    # Rows stamped before this (loaded before ingest checked it) are no data: no KPI, series or span reads them.
    earliest: datetime = field(default_factory=earliest_moment)
    # True when no moment was given and as_of is the wall clock standing in: wherever a warehouse is
    # at hand (compute, scan, the cube, the review, the dashboard's scan) its data's own moment
    # replaces it (on_data_clock), so a page or command that just loads the settings is not judged
    # against today.
    as_of_from_clock: bool = False

    def target_for(self, metric: str, dimension: str | None = None, segment: str | None = None) -> Target | None:
        """The segment's override if there is one, else the organisation-wide target."""
        if dimension and segment is not None:
            for target in self.targets:
                if (target.metric, target.dimension, target.segment) == (metric, dimension, str(segment)):
                    return target
        return next((t for t in self.targets if t.metric == metric and t.dimension is None), None)


def _targets(data: dict, name: str) -> list[Target]:
    targets = []
    entries = [({"metric": m, **v}) for m, v in data.get("targets", {}).items()] + data.get("overrides", [])
    for entry in entries:
        bounds = [b for b in ("min", "max") if b in entry]
        if len(bounds) != 1 or "metric" not in entry:
            raise SettingsError(f"{name}: target {entry!r} needs a metric and exactly one of min or max")
        if ("dimension" in entry) != ("segment" in entry):
            raise SettingsError(f"{name}: override {entry!r} needs both dimension and segment")
        targets.append(
            Target(entry["metric"], bounds[0], float(entry[bounds[0]]), entry.get("dimension"), entry.get("segment"))
        )
    return targets


def settings_for(con: duckdb.DuckDBPyConnection, path: str | os.PathLike | None = None) -> Settings:
    """The targets and conventions (as ``load_settings``) as of the warehouse's data, not the wall clock.

    "Now" (SLA breaches counted now, backlog and its age, the period in progress, the radar's
    window) is the moment the loaded exports describe, so a history that ended weeks ago is
    judged where it ends; an empty warehouse has only the clock.
    """
    return on_data_clock(con, load_settings(path))


def on_data_clock(con: duckdb.DuckDBPyConnection, settings: Settings | None = None) -> Settings:
    """``settings`` (default: ``load_settings()``) with the warehouse's as-of for "now", unless a moment was given."""
    settings = settings or load_settings()
    if not settings.as_of_from_clock:
        return settings
    moment = warehouse_as_of(con)
    if moment is None:
        return settings
    # Just after the data's last event, so that event has happened: a ticket resolved at that very
    # moment is not open "now" (the KPIs' moments are ends of half-open intervals).
    return replace(settings, as_of=moment + timedelta(microseconds=1), as_of_from_clock=False)


def load_settings(path: str | os.PathLike | None = None, as_of: datetime | None = None) -> Settings:
    """Read targets and conventions: the given file, $CSAT_RADAR_TARGETS, ./targets.toml, or the defaults.

    Without ``as_of`` "now" is the wall clock until code with the warehouse at hand puts the
    data's own moment in its place (``on_data_clock``; ``settings_for`` does both at once).
    """
    candidates = [path, os.environ.get(TARGETS_ENV), "targets.toml" if Path("targets.toml").exists() else None]
    chosen = Path(next((c for c in candidates if c), DEFAULT_FILE))
    try:
        data = tomllib.loads(chosen.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise SettingsError(f"{chosen}: targets file not found") from exc
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(f"{chosen}: not valid TOML ({exc})") from exc
    known = Conventions.__dataclass_fields__
    raw_conventions = data.get("conventions", {})
    unknown = set(raw_conventions) - set(known)
    if unknown:
        raise SettingsError(f"{chosen}: unknown convention(s) {', '.join(sorted(unknown))}")
    values = {k: tuple(v) if isinstance(v, list) else v for k, v in raw_conventions.items()}
    conventions = Conventions(**values)
    if conventions.fcr not in ("one_reply", "no_repeat"):
        raise SettingsError(f"{chosen}: fcr must be one_reply or no_repeat")
    if conventions.hours not in ("calendar", "business"):
        raise SettingsError(f"{chosen}: hours must be calendar or business")
    if conventions.complaint_rate_denominator not in ("tickets", "customers", "orders"):
        raise SettingsError(f"{chosen}: complaint_rate_denominator must be tickets, customers or orders")
    return Settings(
        tuple(_targets(data, chosen.name)),
        conventions,
        str(chosen),
        as_of or datetime.now(UTC),
        as_of_from_clock=as_of is None,
    )


def settings_file() -> Path:
    """The targets file the app reads and an administrator's changes go to: $CSAT_RADAR_TARGETS or ./targets.toml."""
    return Path(os.environ.get(TARGETS_ENV) or "targets.toml")


def set_target(metric: str, bound: str, value: float, path: str | os.PathLike | None = None) -> dict:
    """Set the organisation-wide target of ``metric`` in the targets file; returns what changed.

    A missing file starts as a copy of the defaults. The file's comments, conventions and
    overrides are kept; the change is written to a new file first, read back, then moved into
    place, so a failed write leaves the old file as it was.
    """
    try:
        definition = catalog_metric(metric)
    except ValueError as exc:
        raise SettingsError(f"{metric!r} is not a KPI of the catalog") from exc
    if bound not in ("min", "max"):
        raise SettingsError(f"a target is a min or a max, not {bound!r}")
    value = float(value)
    if value != value or value in (float("inf"), float("-inf")) or (value < 0 and definition.format != "score"):
        raise SettingsError(f"{value} is not a usable target for {metric}")
    if definition.format == "percent" and value > 1:
        raise SettingsError(f"{metric} is a share: give its target as a fraction (0.9 for 90%), not {value:g}")
    target_path = Path(path) if path else settings_file()
    text = target_path.read_text(encoding="utf-8") if target_path.exists() else DEFAULT_FILE.read_text(encoding="utf-8")
    previous = next((t for t in load_settings(target_path if target_path.exists() else DEFAULT_FILE).targets
                     if t.metric == metric and t.dimension is None), None)  # fmt: skip
    line = f"{metric} = {{ {bound} = {value:g} }}"
    lines = text.splitlines()
    start = next((i for i, raw in enumerate(lines) if raw.strip() == "[targets]"), None)
    if start is None:
        lines[:0] = ["[targets]", line, ""]
    else:
        end = next((i for i in range(start + 1, len(lines)) if lines[i].lstrip().startswith("[")), len(lines))
        found = next((i for i in range(start + 1, end) if re.match(rf"\s*{re.escape(metric)}\s*=", lines[i])), None)
        if found is None:
            lines.insert(start + 1, line)
        else:
            lines[found] = line
    written = target_path.with_name(target_path.name + ".new")
    written.write_text("\n".join(lines) + "\n", encoding="utf-8")
    try:
        load_settings(written)
    except SettingsError:
        written.unlink()
        raise
    written.replace(target_path)
    old = f"{previous.bound} {previous.value:g}" if previous else "none"
    return {"metric": metric, "old": old, "new": f"{bound} {value:g}", "file": str(target_path)}
