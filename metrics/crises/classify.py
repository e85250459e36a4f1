"""What kind of crisis a cluster of episodes is, and how severe: the facts, the typing rules and the grade.

Grain: one ``Facts`` per candidate crisis, derived from its episodes (and, for complaints, the
share of them about information or attitude); the typing rules and severity grading are data
in crisis_rules.toml.
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass
from datetime import date, timedelta

import duckdb

from metrics.crises.clusters import Episode
from metrics.crises.rules import COMPLAINT_SIGNALS, SLOWDOWN_SIGNALS, STEP, rules, slide_thresholds
from metrics.kpis.catalog import metric as catalog_metric
from metrics.kpis.settings import Settings
from metrics.kpis.sql import literal

COMMUNICATION_COMPLAINTS = "complaints about information or attitude"


@dataclass(frozen=True)
class Facts:
    """What the radar knows of one candidate crisis.

    The booleans are the conditions the typing rules of crisis_rules.toml name (``when``); the
    other fields fill in their reasons (``reason``).
    """

    where: str  # with its preposition: "in channel chat", "of the whole organisation"
    days: int
    volume_spike: bool
    volume_metric: str
    volume_ratio: float
    response_sla_drop: bool
    sla_before: float
    sla_now: float
    reopen_rise: bool
    reopen_before: float
    reopen_now: float
    fcr_drop: bool
    fcr_before: float
    fcr_now: float
    slowdown: bool
    slow_what: str
    slow_ratio: float
    complaint_rise: bool
    complaint_what: str
    complaint_ratio: float
    information_or_attitude: bool
    information_share: float
    csat_drop: bool
    csat_spike: bool
    csat_points: float
    handled_by_people: bool
    csat_note: str
    concentration: str

    def words(self) -> dict:
        """The values a typing rule's reason is formatted with (``csat_drop`` there is the drop in points)."""
        return {**asdict(self), "csat_drop": self.csat_points}


def strongest_by_metric(cluster: list[Episode]) -> dict[str, Episode]:
    """Each metric's episode with the highest peak z in the cluster (the first one on a tie)."""
    by_metric: dict[str, Episode] = {}
    for episode in cluster:
        best = by_metric.get(episode.metric)
        if best is None or episode.peak_z > best.peak_z:
            by_metric[episode.metric] = episode
    return by_metric


def burst(by_metric: dict[str, Episode], step: timedelta) -> Episode | None:
    """The ticket or complaint burst that makes a sudden event, if any."""
    sudden = rules()["sudden"]
    tickets_burst = by_metric.get("ticket_volume")
    complaints_burst = by_metric.get("complaint_volume")
    if complaints_burst is not None and not (
        complaints_burst.peak_ratio >= sudden["complaint_ratio"]
        and complaints_burst.excess >= sudden["complaint_excess"]
        and complaints_burst.days(step) <= sudden["max_days"]
    ):
        complaints_burst = None
    if tickets_burst is not None and tickets_burst.days(step) > sudden["max_days"]:
        tickets_burst = None  # weeks of extra tickets are a slow build-up (or follow-ups), not a sudden event
    return tickets_burst or complaints_burst


def crisis_facts(cluster: list[Episode], info_share: float | None, step: timedelta) -> Facts:
    """The facts of one cluster of episodes; ``info_share`` is the share of extra complaints about communication."""
    by_metric = strongest_by_metric(cluster)
    start = min(e.start for e in cluster)
    last = max(e.last for e in cluster)
    volume = burst(by_metric, step)
    csat = by_metric.get("csat")
    sla = by_metric.get("first_response_sla")
    reopen = by_metric.get("reopen_rate")
    fcr = by_metric.get("first_contact_resolution")
    dimension, segment = cluster[0].dimension, cluster[0].segment
    span_days = (last - start).days + step.days
    slow = max((by_metric[m] for m in SLOWDOWN_SIGNALS if m in by_metric), key=lambda e: e.peak_z, default=None)
    # Complaints that only rise weeks into a crisis are its consequence, not its nature.
    complaints_from = min((e.start for e in cluster if e.metric in COMPLAINT_SIGNALS), default=None)
    complaints_lead = complaints_from is not None and (complaints_from - start).days <= max(step.days, span_days // 4)
    complaint_ratio = max(
        (by_metric[m].peak_ratio for m in ("complaint_rate", "complaint_volume") if m in by_metric),
        default=0.0,
    )
    communication_rate = by_metric.get("communication_complaint_rate")
    return Facts(
        where="of the whole organisation" if dimension == "overall" else f"in {dimension} {segment}",
        days=span_days,
        volume_spike=volume is not None,
        volume_metric=catalog_metric(volume.metric).label.lower() if volume else "",
        volume_ratio=volume.peak_ratio if volume else 0.0,
        # Responses slowing for a week inside a long CSAT slide is a symptom, not the cause.
        response_sla_drop=sla is not None and sla.days(step) >= 0.5 * span_days,
        sla_before=1 - sla.baseline if sla else 0.0,
        sla_now=1 - sla.peak_value if sla else 0.0,
        reopen_rise=reopen is not None,
        reopen_before=reopen.baseline if reopen else 0.0,
        reopen_now=reopen.peak_value if reopen else 0.0,
        fcr_drop=fcr is not None,
        fcr_before=1 - fcr.baseline if fcr else 0.0,
        fcr_now=1 - fcr.peak_value if fcr else 0.0,
        # Like the SLA: a slowdown for a week inside a long CSAT slide is a symptom, not the cause.
        slowdown=slow is not None and slow.days(step) >= 0.5 * span_days,
        slow_what=catalog_metric(slow.metric).label.lower() if slow else "",
        slow_ratio=slow.peak_ratio if slow else 0.0,
        complaint_rise=complaints_lead,
        complaint_what="complaints" if complaint_ratio or not communication_rate else COMMUNICATION_COMPLAINTS,
        complaint_ratio=complaint_ratio or (communication_rate.peak_ratio if communication_rate else 0.0),
        information_or_attitude=info_share is not None and info_share >= rules()["communication"]["min_share"],
        information_share=info_share or 0.0,
        csat_drop=csat is not None,
        csat_spike=csat is not None and csat.opens_with_spike,
        csat_points=((csat.peak_value - csat.baseline) * 100) if csat else 0.0,
        handled_by_people=dimension in ("team", "agent", "channel"),
        csat_note=(f", CSAT down {(csat.peak_value - csat.baseline) * 100:.0f} points" if csat else ""),
        concentration="",
    )


def crisis_type(facts: Facts) -> tuple[str, str]:
    """The type of the first typing rule whose conditions all hold, and its reason in words."""
    for rule in rules()["types"]:
        if all(getattr(facts, condition, None) for condition in rule["when"]):
            return rule["type"], rule["reason"].format(**facts.words())
    return "customer_satisfaction", f"KPIs {facts.where} moved beyond their control limits"


def points(value: float, table: list) -> int:
    """The points of the first row of a grading table whose threshold ``value`` reaches."""
    return next((points for threshold, points in table if value >= threshold), 0)


def severity(primary: Episode, settings: Settings) -> tuple[str, str]:
    """The grade of a crisis from its primary episode, and the points that make it."""
    grading = rules()["severity"]
    ratio = 1.0 if math.isnan(primary.peak_ratio) else primary.peak_ratio
    effect = points(ratio, grading["effect"])
    confidence = points(primary.peak_z, grading["confidence"])
    customers = points(primary.excess, grading["customers"])
    distance_points, distance_text = 0, "no target"
    target = settings.target_for(primary.metric, primary.dimension, primary.segment)
    if target is not None and primary.kind == "proportion":
        # The radar judges the bad share; these metrics' targets are set on the satisfied one.
        satisfied_metric = primary.metric in grading["satisfied_targets"]
        value = 1 - primary.peak_value if satisfied_metric else primary.peak_value
        beyond = (target.value - value) if target.bound == "min" else (value - target.value)
        distance_points = points(max(beyond, 0.0), grading["distance"])
        distance_text = f"{max(beyond, 0) * 100:.0f} points beyond target"
    total = effect + confidence + customers + distance_points
    level = next(name for name, minimum in grading["levels"] if total >= minimum)
    reason = (
        f"{total} points: effect {ratio:.1f}x ({effect}), confidence z={primary.peak_z:.1f} ({confidence}), "
        f"{primary.excess:.0f} customers affected ({customers}), {distance_text} ({distance_points})"
    )
    return level, reason


def early_warning(primary: Episode, grain: str) -> str:
    """Why a slide not yet confirmed is only observed: its ramp score against the one that confirms it."""
    confirm = slide_thresholds(grain).get("slide_z", float("nan"))  # a grain with no slide rule
    score = primary.peak_ramp_z if primary.peak_ramp_z is not None else float("nan")
    return (
        f"early warning: a slow slide against its peers, ramp score z={score:.1f}; "
        f"a crisis when it reaches z={confirm:.1f}"
    )


# The complaint's place in each scanned dimension: its own, else its ticket's (the agent's tier is the ticket's).
COMPLAINT_PLACES = {
    "channel": "coalesce(c.channel, t.channel)",
    "team": "coalesce(c.team, t.team)",
    "product": "coalesce(c.product, t.product)",
    "region": "coalesce(c.region, t.region)",
    "category": "c.category",
    "customer_tier": "t.customer_tier",
}


@dataclass(frozen=True)
class Window:
    """A crisis window to ask the complaints of: its place, first and last period."""

    dimension: str
    segment: str
    start: date
    last: date


def information_shares(
    con: duckdb.DuckDBPyConnection, settings: Settings, windows: list[Window], grain: str
) -> list[float | None]:
    """Per window, the share of its extra complaints whose category or text is about information or attitude.

    Each window is compared with the four times as long before it. All windows are counted in one
    pass over the complaints joined to their tickets (the join reads every ticket, once per scan).
    """
    if not windows:
        return []
    pattern = "|".join(re.escape(k) for k in settings.conventions.communication_keywords)
    step = STEP[grain]
    asked = []
    for i, w in enumerate(windows):
        days = (w.last - w.start).days + step.days
        first, end = w.start - timedelta(days=days * 4), w.last + step
        asked.append((i, w.dimension, w.segment, first, w.start, end))
    values = ", ".join(
        f"({i}, {literal(d)}, {literal(s)}, DATE '{first}', DATE '{start}', DATE '{end}')"
        for i, d, s, first, start, end in asked
    )
    columns = ", ".join(f"CAST({e} AS VARCHAR) AS {d}" for d, e in COMPLAINT_PLACES.items())
    matches = " ".join(f"WHEN {literal(d)} THEN r.{d}" for d in COMPLAINT_PLACES)
    query = f"""
        WITH asked(id, dimension, segment, first_day, start_day, end_day) AS (VALUES {values}),
        complained AS (
            SELECT c.created_at::DATE AS day, {columns},
                   regexp_matches(lower(coalesce(c.category, '') || ' ' || coalesce(c.text, '')), $pattern) AS info
            FROM complaints c LEFT JOIN tickets t ON t.ticket_id = c.ticket_id
            WHERE c.created_at::DATE >= $first AND c.created_at::DATE < $end)
        SELECT a.id,
               count(r.day) FILTER (WHERE r.day >= a.start_day)::DOUBLE AS now_all,
               count(r.day) FILTER (WHERE r.day >= a.start_day AND r.info)::DOUBLE AS now_info,
               count(r.day) FILTER (WHERE r.day < a.start_day)::DOUBLE AS base_all,
               count(r.day) FILTER (WHERE r.day < a.start_day AND r.info)::DOUBLE AS base_info
        FROM asked a LEFT JOIN complained r
          ON r.day >= a.first_day AND r.day < a.end_day
         AND (a.dimension = 'overall' OR (CASE a.dimension {matches} END) = a.segment)
        GROUP BY a.id"""
    params = {"pattern": pattern, "first": min(a[3] for a in asked), "end": max(a[5] for a in asked)}
    counted = {row[0]: row[1:] for row in con.sql(query, params=params).fetchall()}
    return [extra_share(*counted[i]) for i in range(len(windows))]


def extra_share(now_all: float, now_info: float, base_all: float, base_info: float) -> float | None:
    """The information share of the window's complaints beyond a quarter of the baseline's (four times as long)."""
    scale = 1 / 4
    extra_all = now_all - base_all * scale
    if extra_all <= 0:
        return None
    return max(0.0, min(1.0, (now_info - base_info * scale) / extra_all))
