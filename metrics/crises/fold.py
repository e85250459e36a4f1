"""Folding echoes: one event seen in several places is reported once, in the place that drives it.

Grain: a list of ``Candidate`` crises in, the same list less the echoes out; each leader
names the places its echoes were seen in (``also_in``).
"""

from __future__ import annotations

import math
from datetime import timedelta

import numpy as np

from metrics.crises.clusters import Candidate, overlaps
from metrics.crises.contributors import Breakdowns, Contributor, contributors, window
from metrics.crises.rules import LOAD_SIGNALS, rules


def merge_sudden_events(candidates: list[Candidate], step: timedelta) -> list[Candidate]:
    """Fold the echoes of one event into it.

    A sudden event floods several segments at once (a region, its category, the team that
    handles it) and slows responses everywhere: the sudden event with the largest rise keeps
    the crisis, and overlapping sudden events, response-time crises and CSAT dips that lie
    inside its window become places it was also seen.
    """
    # The place that holds most of the extra volume at the sharpest rise is where the event sits.
    sudden = sorted(
        (c for c in candidates if c.type == "sudden_event"),
        key=lambda c: -c.primary.excess * float(np.log(max(c.primary.peak_ratio, 1.0))),
    )
    absorbed: set[int] = set()
    for leader in sudden:
        if id(leader) in absorbed:
            continue
        for other in candidates:
            if other is leader or id(other) in absorbed:
                continue
            inside = other.start >= leader.start - step and other.last <= leader.last + step
            metrics_there = other.metrics
            # Another burst is the same event only if it began with this one, not weeks into it.
            same_burst = other.type == "sudden_event" and abs((other.start - leader.start).days) <= step.days
            echoes = (
                same_burst or metrics_there <= LOAD_SIGNALS or (inside and metrics_there <= LOAD_SIGNALS | {"csat"})
            )
            if echoes and overlaps(leader.start, leader.last, other.start, other.last, step):
                absorbed.add(id(other))
                leader.also_in.append(f"{other.dimension} {other.segment}")
    return [c for c in candidates if id(c) not in absorbed]


def explain_candidate(breakdowns: Breakdowns, candidate: Candidate) -> list[Contributor]:
    """The segments that drive the candidate's primary metric over its window (from the scan's ``breakdowns``)."""
    return contributors(
        breakdowns.con, breakdowns.settings, candidate.primary.metric, candidate.dimension, candidate.segment,
        candidate.start, candidate.last, breakdowns.grain, breakdowns=breakdowns,
    )  # fmt: skip


def want_explained(breakdowns: Breakdowns, candidates: list[Candidate]) -> None:
    """Tell the scan's ``breakdowns`` which windows will be explained, so each place is queried once."""
    for c in candidates:
        base_from, end, _ = window(c.start, c.last, breakdowns.grain)
        breakdowns.want(c.primary.metric, c.dimension, c.segment, base_from, end)


def entry(explained: list[Contributor], dimension: str, segment: str) -> Contributor | None:
    """The contributor for one place, if it is among them."""
    return next((c for c in explained if (c.dimension, c.segment) == (dimension, segment)), None)


def drives(echo: Candidate, leader: Candidate) -> str | None:
    """How the leader's places drive the echo's change: "out of proportion", "same population" or not (None).

    Out of proportion: at least ``min_share`` of the change and ``min_lift`` times the place's
    share of the echo's tickets, or the two places are one population under two names (each
    holds nearly all of the other's tickets, like a category and the one team that handles it).
    """
    limits = rules()["echo"]
    places = [(leader.dimension, leader.segment)] + [tuple(p.split(" ", 1)) for p in leader.also_in]
    entries = [entry(echo.contributors or [], *place) for place in places if place[0] != echo.dimension]
    driven = max((e for e in entries if e is not None), key=lambda e: e.share or 0.0, default=None)
    if driven is None or (driven.share or 0.0) < limits["min_share"]:
        return None
    weight = driven.weight or 0.0
    back = entry(leader.contributors or [], echo.dimension, echo.segment)
    same_population = weight >= limits["same_population"] and (
        back is not None and (back.weight or 0.0) >= limits["same_population"]
    )
    if driven.share >= limits["min_lift"] * weight:
        return "out of proportion"
    return "same population" if same_population else None


def fold_echoes(breakdowns: Breakdowns, candidates: list[Candidate], step: timedelta) -> list[Candidate]:
    """Fold a crisis into another that explains it: a failure in one channel shows in every team it serves.

    B is an echo of A when they overlap in time and A's place (or a place already folded into
    A) drives B's change: at least half of it, and well beyond that place's share of B's
    tickets, or the two are one population under two names (then the dimension scanned first
    keeps it). The most concentrated crisis (the highest rise over its baseline) leads, so a
    diluted echo never swallows its source.
    """
    order = {name: i for i, name in enumerate(rules()["scan"]["dimensions"])}
    # Only candidates that may be one another's echo are explained (a contributors query each).
    overlapping = [
        c
        for c in candidates
        if c.dimension != "overall"
        and any(
            o is not c and (may_echo(c, o) or may_echo(o, c)) and overlaps(c.start, c.last, o.start, o.last, step)
            for o in candidates
        )
    ]
    want_explained(breakdowns, overlapping)
    # Place by place, so each place's breakdown is queried once and held only while it is used.
    for c in sorted(overlapping, key=lambda c: (c.primary.metric, c.dimension, c.segment)):
        c.contributors = explain_candidate(breakdowns, c)
    ranked = sorted(overlapping, key=lambda c: (-finite(c.primary.peak_ratio), order[c.dimension]))
    absorbed: set[int] = set()
    for leader in ranked:
        if id(leader) in absorbed:
            continue
        for echo in ranked:
            # A sudden event is a source (its own echoes were folded by merge_sudden_events), never an echo.
            if echo is leader or id(echo) in absorbed or echo.type == "sudden_event":
                continue
            if not may_echo(echo, leader):
                continue
            # An echo neither comes before its source nor outlasts it.
            inside = echo.start >= leader.start - step and echo.last <= leader.last + step * 2
            driven = drives(echo, leader) if inside else None
            # One population under two names is reported under the dimension scanned first.
            if driven == "same population" and order[echo.dimension] < order[leader.dimension]:
                continue
            if driven:
                absorbed.add(id(echo))
                if echo.primary.early and not leader.primary.early:
                    continue  # a warning the crisis explains adds nothing to it: neither a place nor an earlier date
                leader.also_in.extend([f"{echo.dimension} {echo.segment}", *echo.also_in])
                leader.raised = min(leader.raised, max(echo.raised, leader.start))
    return [c for c in candidates if id(c) not in absorbed]


def may_echo(echo: Candidate, leader: Candidate) -> bool:
    """Whether ``echo`` could be ``leader`` seen elsewhere, before asking what drives it.

    An early warning may be folded into a crisis or another warning, never a crisis into a
    warning. Nor is a crisis of another kind, in a measure the leader did not move, its echo: a
    product's CSAT slide is not a channel's complaints about wrong information, though that
    channel's CSAT fell with it.
    """
    if leader.primary.early and not echo.primary.early:
        return False
    return echo.type == leader.type or echo.primary.metric in leader.metrics


def finite(value: float) -> float:
    """The value, or 0 when it is undefined or infinite (a rise over a zero baseline ranks last)."""
    return value if math.isfinite(value) else 0.0
