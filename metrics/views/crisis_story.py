"""A crisis's story as the crisis page shows it: where it sits, its cause in one sentence, the numbers
behind, and what customers said (the rising words with example comments). Data only; the page displays.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date, timedelta

import duckdb
import polars as pl

from metrics.crises.causes import Cause, cause, numbers_behind, place_name
from metrics.crises.words import what_customers_say
from metrics.kpis.catalog import dimension_expression
from metrics.kpis.formats import format_period
from metrics.kpis.scope import View
from metrics.kpis.settings import Settings, on_data_clock


@dataclass(frozen=True)
class Story:
    """What the crisis page shows under the chart.

    ``words``: Word, Comments in the crisis, Comments before, Rise (z); ``examples``: each word's
    comments (masked, most recent first). ``said`` says how many comments were read on each side,
    ``notes`` anything the reader must know (a sample, a place the comments cannot be narrowed to).
    """

    place: str
    window: str
    cause: Cause
    numbers: pl.DataFrame
    words: pl.DataFrame
    examples: dict[str, list[str]]
    comments_during: int
    comments_before: int
    notes: list[str] = field(default_factory=list)

    @property
    def has_comments(self) -> bool:
        return self.comments_during > 0


def crisis_window(crisis: dict) -> tuple[date, date]:
    """The first and last day of a crisis: its first flagged period to the end of its last one."""
    last = crisis.get("end_period") or crisis["last_flagged"]
    return crisis["start_period"], last + timedelta(days=6 if crisis["grain"] == "week" else 0)


def place_filters(dimension: str, segment: str) -> list[tuple[str, str]] | None:
    """The place as filters on comments: none for the whole organisation, None when it names no known dimension."""
    if dimension == "overall":
        return []
    try:
        dimension_expression(dimension)
    except ValueError:
        return None
    return [(dimension, segment)]


def paired_place(crisis: dict) -> tuple[str, str] | None:
    """The second segment of a crisis placed at a pair (``evidence["paired_with"]``: "region East"), if any."""
    evidence = crisis.get("evidence") or {}
    if isinstance(evidence, str):
        evidence = json.loads(evidence)
    dimension, _, segment = (evidence.get("paired_with") or "").partition(" ")
    return (dimension, segment) if segment else None


def crisis_story(con: duckdb.DuckDBPyConnection, settings: Settings, view: View, crisis: dict) -> Story:
    """The story of one crisis (a record of ``visible_crisis``) in the view's language."""
    settings = on_data_clock(con, settings)
    lang = view.language
    first, last = crisis_window(crisis)
    contributors = crisis.get("contributors") or []
    filters = place_filters(crisis["dimension"], crisis["segment"])
    place = place_name(crisis["dimension"], crisis["segment"], lang)
    pair = paired_place(crisis)
    if pair is not None and filters:
        # Placed at a pair (an outage of one category in one region): its comments are the pair's.
        place = f"{place} {'和' if lang == 'zh' else 'and'} {place_name(*pair, lang)}"
        filters = filters + (place_filters(*pair) or [])
    notes = []
    if filters is None:
        notes.append("The comments cannot be narrowed to this place: those of the whole organisation are read.")
        filters = []
    said = what_customers_say(con, settings, filters, first, last)
    notes += said.notes
    examples = {key[0]: group["text"].to_list() for key, group in said.examples.group_by("term", maintain_order=True)}
    words = said.terms.select(
        pl.col("term").alias("Word or phrase"),
        pl.col("during").alias("Comments in the crisis"),
        pl.col("before").alias("Comments before"),
        pl.col("z").round(1).alias("Rise (z)"),
    )
    return Story(
        place=place,
        window=f"{format_period(first)} – {format_period(last)}",
        cause=cause(crisis["metric"], contributors, lang),
        numbers=numbers_behind(crisis["metric"], contributors, lang),
        words=words,
        examples=examples,
        comments_during=said.comments_during,
        comments_before=said.comments_before,
        notes=notes,
    )
