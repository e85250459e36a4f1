"""The crisis radar: scan every scanned KPI overall and per segment, flag, type, grade and explain crises.

Grain of the scan: one row per metric, dimension, segment and complete period (see series.py);
the crises it finds are ``DetectedCrisis`` objects, one per place and event. The steps live in
their own modules: series (what is judged), flag (judging, episodes), clusters (episodes of a
segment taken together), classify (type and severity), contributors (who drives a change),
fold (echoes folded into their source) and place (each crisis moved to where it concentrates).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import duckdb
import polars as pl

from metrics.crises.classify import Window, crisis_facts, crisis_type, early_warning, information_shares, severity
from metrics.crises.clusters import Candidate, Episode, cluster_episodes, overlaps
from metrics.crises.contributors import Breakdowns, Contributor
from metrics.crises.flag import episodes, judge
from metrics.crises.fold import explain_candidate, fold_echoes, merge_sudden_events, want_explained
from metrics.crises.model import DetectedCrisis
from metrics.crises.place import fold_into_events, paired_with, place_crises, where
from metrics.crises.rules import COMPLAINT_SIGNALS, PRIMARY, STEP
from metrics.crises.series import scanned_series
from metrics.kpis.settings import Settings, on_data_clock


@dataclass(frozen=True)
class Scan:
    """Everything one scan computed: the judged series (for charts) and the crises found."""

    grain: str
    proportions: pl.DataFrame
    volumes: pl.DataFrame
    levels: pl.DataFrame
    episodes: pl.DataFrame
    crises: list[DetectedCrisis]
    last_complete: date | None


def candidates(
    con: duckdb.DuckDBPyConnection, settings: Settings, found: pl.DataFrame, grain: str, since: date | None
) -> list[Candidate]:
    """One typed candidate per cluster of overlapping episodes in a segment."""
    step = STEP[grain]
    clusters = cluster_episodes(found, step)
    # An early warning in a segment does not stand for the whole organisation's crisis.
    segment_clusters = [c for c in clusters if c[0].dimension != "overall" and not c[0].early]
    kept = []
    for cluster in clusters:
        start = min(e.start for e in cluster)
        last = max(e.last for e in cluster)
        if since and last < since:
            continue
        metrics_here = {e.metric for e in cluster}
        if cluster[0].dimension == "overall" and any(
            metrics_here & {e.metric for e in other}
            and overlaps(start, last, min(e.start for e in other), max(e.last for e in other), step)
            for other in segment_clusters
        ):
            continue  # the whole organisation moved because a segment did: report the segment
        kept.append((cluster, Window(cluster[0].dimension, cluster[0].segment, start, last)))
    # The complaints are asked once for every window with a complaint signal, not once per window.
    asked = [w for cluster, w in kept if {e.metric for e in cluster} & set(COMPLAINT_SIGNALS)]
    shares = dict(zip(map(id, asked), information_shares(con, settings, asked, grain), strict=True))
    return [typed_candidate(cluster, w, shares.get(id(w)), step) for cluster, w in kept]


def typed_candidate(cluster: list[Episode], window: Window, info_share: float | None, step: timedelta) -> Candidate:
    """The candidate a cluster of episodes is: its type, the reason and the episode that speaks for it."""
    kind, type_reason = crisis_type(crisis_facts(cluster, info_share, step))
    primary = next(
        (e for name in PRIMARY[kind] for e in cluster if e.metric == name),
        max(cluster, key=lambda e: e.peak_z),
    )
    return Candidate(
        cluster=cluster,
        dimension=window.dimension,
        segment=window.segment,
        start=window.start,
        last=window.last,
        raised=min(e.raised for e in cluster),
        type=kind,
        type_reason=type_reason,
        primary=primary,
    )


def concentrated(type_reason: str, explained: list[Contributor]) -> str:
    """A sudden event's reason, naming the category that holds at least half of it."""
    category = next((c for c in explained if c.dimension == "category" and c.share), None)
    if category and category.share >= 0.5:
        return type_reason.replace(" → ", f", {category.share:.0%} category '{category.segment}' → ")
    return type_reason


def signal(episode: Episode) -> dict:
    """One episode as a crisis lists its signals."""
    return {
        "metric": episode.metric,
        "start": episode.start.isoformat(),
        "last": episode.last.isoformat(),
        "peak_z": round(float(episode.peak_z), 2),
        "signal": episode.signal,
        "baseline": float(episode.baseline),
        "peak_value": float(episode.peak_value),
    }


def describe(
    breakdowns: Breakdowns, candidate: Candidate, last_complete: date | None, explain_it: bool
) -> DetectedCrisis:
    """The crisis a candidate is, graded and (when ``explain_it`` or already known) with its contributors.

    ``breakdowns`` holds the scan's connection, settings and grain, and the queries its contributors share.
    """
    primary = candidate.primary
    grain = breakdowns.grain
    grade, severity_reason = severity(primary, breakdowns.settings)
    if primary.early:
        grade, severity_reason = "observe", early_warning(primary, grain)
    explained = candidate.contributors
    if explained is None:
        # An early warning is explained once it is a crisis (the next scan that confirms it).
        explain_it = explain_it and not primary.early
        explained = explain_candidate(breakdowns, candidate) if explain_it else []
    type_reason = candidate.type_reason
    if candidate.type == "sudden_event" and explained:
        type_reason = concentrated(type_reason, explained)
    pair = paired_with(candidate.dimension, explained) if candidate.dimension != "overall" else None
    if pair is not None:
        # The place is the pair: "in category delivery delay and region East".
        here = where(candidate.dimension, candidate.segment)
        type_reason = type_reason.replace(here, f"{here} and {pair.dimension} {pair.segment}", 1)
    return DetectedCrisis(
        metric=primary.metric,
        dimension=candidate.dimension,
        segment=candidate.segment,
        type=candidate.type,
        type_reason=type_reason,
        severity=grade,
        severity_reason=severity_reason,
        grain=grain,
        start=candidate.start,
        last_flagged=candidate.last,
        ongoing=last_complete is not None and candidate.last >= last_complete,
        raised=candidate.raised,
        evidence={
            "peak_z": round(float(primary.peak_z), 2),
            "baseline": float(primary.baseline),
            "peak_value": float(primary.peak_value),
            "excess": float(primary.excess),
            "kind": primary.kind,
            "also_seen_in": candidate.also_in,
            # The segment of another dimension that, with this place, makes the pair where the crisis sits.
            "paired_with": f"{pair.dimension} {pair.segment}" if pair else None,
            # A slow slide is an early warning until a period confirms it (the backtest times both).
            "early_warning": primary.early,
            "confirmed": primary.confirmed.isoformat() if primary.confirmed else None,
        },
        # The crisis log and the JSON keep contributors as plain records: converted here, once.
        contributors=[c.as_dict() for c in explained],
        signals=[signal(e) for e in candidate.cluster],
    )


def scan(
    con: duckdb.DuckDBPyConnection,
    settings: Settings | None = None,
    grain: str = "week",
    since: date | None = None,
    explain: bool = True,
) -> Scan:
    """Detect crises at ``grain`` over the whole history; report those active on or after ``since``."""
    settings = on_data_clock(con, settings)
    if grain not in STEP:
        raise ValueError(f"the radar scans day or week, not {grain!r}")
    step = STEP[grain]
    proportions, volumes, levels = scanned_series(con, settings, grain)
    charted, counted, leveled = judge(proportions, volumes, grain, levels)
    found = episodes(charted, counted, grain, leveled)
    if not found.is_empty():
        # At fine grains one noisy period is not yet a crisis, unless volume burst.
        found = found.filter(pl.col("raised").is_not_null())
    last_complete = max(
        [f["period_start"].max() for f in (charted, counted, leveled) if not f.is_empty()], default=None
    )
    typed = candidates(con, settings, found, grain, since) if not found.is_empty() else []
    # One query per place and metric serves every window explained in this scan.
    breakdowns = Breakdowns(con, settings, grain)
    kept = fold_echoes(breakdowns, merge_sudden_events(typed, step), step)
    kept = place_crises(kept, charted, counted, step)
    if explain:
        want_explained(breakdowns, [c for c in kept if c.contributors is None and not c.primary.early])
    crises = fold_into_events([describe(breakdowns, c, last_complete, explain) for c in kept], step)
    return Scan(grain, charted, counted, leveled, found, crises, last_complete)
