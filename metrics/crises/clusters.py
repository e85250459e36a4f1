"""Episodes as typed facts, and candidate crises: the overlapping episodes of one segment taken together.

Grain: an ``Episode`` is one run of flagged periods of one metric in one segment (a row of
``flag.episodes``); a ``Candidate`` one cluster of a segment's episodes that overlap in time,
typed, before echoes of other crises are folded into it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

import polars as pl

from metrics.crises.contributors import Contributor


@dataclass(frozen=True)
class Episode:
    """One run of flagged periods: where, when, how far (``peak_z``, ``peak_ratio``) and how many (``excess``).

    ``kind`` is proportion, volume or level; ``baseline`` and ``peak_value`` are in the judged
    units (the bad share for a proportion); ``raised`` the period the radar would have spoken.
    ``peak_ratio`` is NaN or infinite when the baseline is zero.
    """

    metric: str
    dimension: str
    segment: str
    episode: int
    kind: str
    start: date
    last: date
    peak_z: float
    peak_ratio: float
    excess: float
    baseline: float
    peak_value: float
    spike: bool
    opens_with_spike: bool
    drift: bool
    raised: date | None
    # A slow slide not yet confirmed (flag.py): an early warning, graded "observe", that never
    # gathers or absorbs another crisis. ``confirmed`` is its first period of full confidence.
    early: bool = False
    confirmed: date | None = None
    peak_ramp_z: float | None = None

    @property
    def signal(self) -> str:
        return "spike" if self.spike else "drift"

    def days(self, step: timedelta) -> int:
        """Days from the first flagged period's start to the last one's end."""
        return (self.last - self.start).days + step.days


@dataclass
class Candidate:
    """A possible crisis: a cluster of one segment's episodes, typed, with the places its echoes were seen.

    ``primary`` is the episode that speaks for it (its metric, severity and evidence).
    ``contributors`` is computed only when needed (None until then). Folding echoes in adds
    to ``also_in`` and may bring ``raised`` forward.
    """

    cluster: list[Episode]
    dimension: str
    segment: str
    start: date
    last: date
    raised: date | None
    type: str
    type_reason: str
    primary: Episode
    also_in: list[str] = field(default_factory=list)
    contributors: list[Contributor] | None = None

    @property
    def metrics(self) -> set[str]:
        return {e.metric for e in self.cluster}


def overlaps(a_start: date, a_last: date, b_start: date, b_last: date, step: timedelta) -> bool:
    """Whether two spans of periods overlap or touch (one period apart at most)."""
    return a_start <= b_last + step and b_start <= a_last + step


def cluster_episodes(found: pl.DataFrame, step: timedelta) -> list[list[Episode]]:
    """Episodes of the same segment that overlap in time form one crisis; early warnings stand apart.

    An early warning (an unconfirmed slide, ``Episode.early``) never joins another episode's
    crisis: a weak ramp that began before an outage would otherwise pull the outage into a
    "customer-satisfaction crisis" starting weeks too early. One that overlaps a crisis of its own
    segment says nothing that crisis does not, and is left out.
    """
    if "early" not in found.columns:
        return gathered(found, step)
    confident = gathered(found.filter(~pl.col("early")), step)
    spans = {(c[0].dimension, c[0].segment): [] for c in confident}
    for cluster in confident:
        spans[(cluster[0].dimension, cluster[0].segment)].append(
            (min(e.start for e in cluster), max(e.last for e in cluster))
        )
    warnings = [
        cluster
        for cluster in gathered(found.filter(pl.col("early")), step)
        if not any(
            overlaps(cluster[0].start, max(e.last for e in cluster), start, last, step)
            for start, last in spans.get((cluster[0].dimension, cluster[0].segment), [])
        )
    ]
    return confident + warnings


def gathered(found: pl.DataFrame, step: timedelta) -> list[list[Episode]]:
    """Episodes of the same segment that overlap in time, gathered into clusters."""
    clusters: list[list[Episode]] = []
    for (_, _), group in found.sort("start").group_by(["dimension", "segment"], maintain_order=True):
        current: list[Episode] = []
        current_last: date | None = None
        for row in group.sort("start").iter_rows(named=True):
            episode = Episode(**row)
            # A burst arriving in the middle of a longer trouble is a new event, not more of the same.
            burst = episode.kind == "volume" and (episode.last - episode.start) <= step
            if current and burst and episode.start > current[0].start + step:
                clusters.append(current)
                current, current_last = [], None
            if current and current_last is not None and episode.start <= current_last + step:
                current.append(episode)
                current_last = max(current_last, episode.last)
            else:
                if current:
                    clusters.append(current)
                current, current_last = [episode], episode.last
        if current:
            clusters.append(current)
    return clusters
