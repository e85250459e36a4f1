"""Placing a crisis where it concentrates: the most specific segment that carries most of its change.

Grain: the candidate crises left after echoes are folded in, each moved (when the judged series
say so) to the segment, of any scanned dimension, that holds most of the excess of its primary
metric over its window at the highest concentration; the view of the same event already found
there is folded into it.

An event has one place but is seen in many: a misinformation problem in one channel lifts the
complaint rate of every team, category and customer tier that channel serves, and the radar
may flag any of them first. The place a manager acts on is the one that carries most of the
extra bad events (``min_share`` of the whole organisation's) while being the smallest part of
the tickets: the highest lift, share of the change over share of the trials. Two places holding
one population under two names (a category and the one team that handles it) have the same
lift; the crisis stays where it was found unless another place is clearly (``min_gain``) more
concentrated.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import polars as pl

from metrics.crises.clusters import Candidate, Episode, overlaps
from metrics.crises.contributors import Contributor
from metrics.crises.model import DetectedCrisis
from metrics.crises.rules import rules


def extra(kind: str) -> pl.Expr:
    """A period's bad events beyond its baseline (a proportion), or its count beyond the expected (a volume)."""
    if kind == "proportion":
        return pl.col("bad") - pl.col("p0") * pl.col("n")
    return pl.col("count") - pl.col("expected")


def concentration(judged: pl.DataFrame, kind: str, metric: str, start, last) -> pl.DataFrame:
    """Per place: its excess bad events (or count) over the window, its share of the whole's and its lift.

    ``judged`` is the charted proportions (``bad``, ``n``, ``p0``) or counted volumes (``count``,
    ``expected``) of every scanned dimension. The whole is the organisation's own series when
    scanned, else each dimension's sum. Places with no excess or no trials are left out.
    """
    if judged.is_empty():
        return pl.DataFrame()
    window = judged.filter((pl.col("metric") == metric) & pl.col("period_start").is_between(start, last))
    excess = extra(kind)
    trials = pl.col("n") if kind == "proportion" else pl.col("expected")
    places = (
        window.filter(pl.col("p0" if kind == "proportion" else "expected").is_not_null())
        .group_by("dimension", "segment")
        .agg(excess.sum().alias("excess"), trials.sum().alias("trials"))
    )
    whole = places.filter(pl.col("dimension") == "overall")
    if whole.is_empty():
        totals = places.group_by("dimension").agg(pl.col("excess", "trials").sum())
        total_excess, total_trials = totals["excess"].max(), totals["trials"].max()
    else:
        total_excess, total_trials = whole["excess"][0], whole["trials"][0]
    if total_excess is None or total_trials is None or total_excess <= 0 or total_trials <= 0:
        return pl.DataFrame()
    return (
        places.filter((pl.col("dimension") != "overall") & (pl.col("excess") > 0) & (pl.col("trials") > 0))
        .with_columns(
            (pl.col("excess") / total_excess).alias("share"), (pl.col("trials") / total_trials).alias("weight")
        )
        .with_columns((pl.col("share") / pl.col("weight")).alias("lift"))
    )


def best_place(places: pl.DataFrame, current: tuple[str, str]) -> tuple[str, str] | None:
    """The place that carries most of the change at the highest lift, if it is clearly not the current one."""
    limits = rules()["place"]
    if places.is_empty():
        return None
    order = {name: i for i, name in enumerate(rules()["scan"]["dimensions"])}
    carrying = places.filter(pl.col("share") >= limits["min_share"]).with_columns(
        pl.col("dimension").replace_strict(order, default=len(order)).alias("_order")
    )
    if carrying.is_empty():
        return None
    best = carrying.sort(["lift", "_order", "segment"], descending=[True, False, False]).row(0, named=True)
    if (best["dimension"], best["segment"]) == current:
        return None
    here = places.filter((pl.col("dimension") == current[0]) & (pl.col("segment") == current[1]))
    here_lift = here["lift"][0] if not here.is_empty() else 0.0
    if here_lift * limits["min_gain"] >= best["lift"]:
        return None
    return best["dimension"], best["segment"]


def moved_episode(primary: Episode, judged: pl.DataFrame, kind: str, place: tuple[str, str], start, last) -> Episode:
    """The primary episode as the new place's own series saw it over the crisis window."""
    rows = judged.filter(
        (pl.col("metric") == primary.metric)
        & (pl.col("dimension") == place[0])
        & (pl.col("segment") == place[1])
        & pl.col("period_start").is_between(start, last)
    )
    value, base = ("p", "p0") if kind == "proportion" else ("count", "expected")
    peak = rows.sort("z_adj", descending=True, nulls_last=True).row(0, named=True)
    excess = rows.select(extra(kind).clip(0, None).sum()).item()
    return replace(
        primary,
        dimension=place[0],
        segment=place[1],
        peak_z=float(peak["z_adj"] or 0.0),
        peak_ratio=float(rows["ratio"].max() or 1.0),
        excess=float(excess or 0.0),
        baseline=float(peak[base] or 0.0),
        peak_value=float(peak[value] or 0.0),
    )


def where(dimension: str, segment: str) -> str:
    """How a reason names a place (as classify.crisis_facts does)."""
    return "of the whole organisation" if dimension == "overall" else f"in {dimension} {segment}"


def move(candidate: Candidate, target: tuple[str, str], judged: pl.DataFrame, kind: str) -> None:
    """Move a candidate to ``target``: its reason and primary episode say the new place, the old is also seen."""
    old = f"{candidate.dimension} {candidate.segment}"
    candidate.type_reason = candidate.type_reason.replace(where(candidate.dimension, candidate.segment), where(*target))
    candidate.primary = moved_episode(candidate.primary, judged, kind, target, candidate.start, candidate.last)
    candidate.also_in = [p for p in [old, *candidate.also_in] if p != f"{target[0]} {target[1]}"]
    candidate.dimension, candidate.segment = target
    candidate.contributors = None  # explained again from the new place


def fold_into(leader: Candidate, other: Candidate) -> None:
    """Fold ``other`` into ``leader``: its places become places the leader was also seen in."""
    places = [f"{other.dimension} {other.segment}", *other.also_in]
    here = f"{leader.dimension} {leader.segment}"
    leader.also_in.extend(p for p in places if p not in leader.also_in and p != here)
    leader.last = max(leader.last, other.last)
    leader.raised = min(d for d in (leader.raised, other.raised) if d is not None)


def place_crises(
    candidates: list[Candidate], charted: pl.DataFrame, counted: pl.DataFrame, step: timedelta
) -> list[Candidate]:
    """Move each crisis to where its change concentrates, taking over the view of the same event found there."""
    judged = {"proportion": charted, "volume": counted}
    absorbed: set[int] = set()
    for candidate in candidates:
        kind = candidate.primary.kind
        # An early warning stays where its own ramp was seen: moved, it would sit where nothing flagged.
        if id(candidate) in absorbed or candidate.primary.early or kind not in judged or judged[kind].is_empty():
            continue
        places = concentration(judged[kind], kind, candidate.primary.metric, candidate.start, candidate.last)
        target = best_place(places, (candidate.dimension, candidate.segment))
        if target is None:
            continue
        there = [
            other
            for other in candidates
            if other is not candidate
            and id(other) not in absorbed
            and ((other.dimension, other.segment) == target or f"{target[0]} {target[1]}" in other.also_in)
            and overlaps(other.start, other.last, candidate.start, candidate.last, step)
        ]
        # A crisis takes over the warnings found at its new place, without their places or dates.
        warnings = [o for o in there if o.primary.early]
        absorbed.update(id(o) for o in warnings)
        there = [o for o in there if id(o) not in absorbed]
        earlier = [o for o in there if o.start < candidate.start - step]
        if candidate.type == "sudden_event":
            # A burst does not move onto a place another crisis, begun at another time, already
            # holds: the excess there is that crisis's, not the burst's.
            if any(abs((o.start - candidate.start).days) > step.days for o in there):
                continue
        else:
            # Seen where an event already sits: its source keeps it, the one begun first or a
            # sudden event (the slowdowns and dips it causes begin with it).
            leader = next((o for o in there if o.type == "sudden_event"), None) or next(iter(earlier), None)
            if leader is not None:
                fold_into(leader, candidate)
                absorbed.add(id(candidate))
                continue
        move(candidate, target, judged[kind], kind)
        for other in there:
            fold_into(candidate, other)
            absorbed.add(id(other))
    return [c for c in candidates if id(c) not in absorbed]


def paired_with(dimension: str, explained: list[Contributor]) -> Contributor | None:
    """The segment of another dimension that, inside the crisis's place, carries most of its change thinly spread.

    A sudden event sits in a region and in the category of its outage at once; inside the one,
    the other holds nearly all of the change (``pair_min_share`` of it) while holding only a part
    of the place's tickets (its share at least ``pair_min_lift`` times its weight): the pair of
    the two is where the event concentrates. A failure spread over a place, as a channel's over
    every team it serves, has no such segment.
    """
    limits = rules()["place"]
    fits = [
        c
        for c in explained
        if c.dimension != dimension
        and c.significant
        and (c.share or 0.0) >= limits["pair_min_share"]
        and c.weight
        and (c.share or 0.0) >= limits["pair_min_lift"] * c.weight
    ]
    return max(fits, key=lambda c: (c.share or 0.0) / (c.weight or 1.0), default=None)


def fold_into_events(crises: list[DetectedCrisis], step: timedelta) -> list[DetectedCrisis]:
    """Fold into a sudden event the crises that share its place or its pair while it lasts.

    An outage in one region about one category slows responses in the channels that region
    uses; once placed, such a slowdown names the outage's region as its pair (or sits in it):
    it is the same event, listed where the outage was also seen, not a crisis of its own.
    """
    events = [c for c in crises if c.type == "sudden_event"]
    folded: set[int] = set()
    for event in events:
        places = {f"{event.dimension} {event.segment}", event.evidence.get("paired_with")} - {None}
        for other in crises:
            if other is event or id(other) in folded or other.type == "sudden_event":
                continue
            theirs = {f"{other.dimension} {other.segment}", other.evidence.get("paired_with")} - {None}
            during = event.start - step <= other.start <= event.last_flagged + step
            if during and places & theirs:
                folded.add(id(other))
                seen = event.evidence.setdefault("also_seen_in", [])
                seen.extend(p for p in [f"{other.dimension} {other.segment}"] if p not in seen)
    return [c for c in crises if id(c) not in folded]
