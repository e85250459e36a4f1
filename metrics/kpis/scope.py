"""What one person may see, as the view every question of the dashboard and the review takes.

A ``View`` is built once per page run from the sidebar's choices and the actor's segments
(``limit``); it narrows its own segment filters to the limit whatever it was given, and every
crisis list goes through ``crises``. Pages get data only through a view, so a page cannot widen
what a limited user sees: the rules live in ``pipelines.signin.access`` (``narrow``, ``within``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING

from metrics.kpis.catalog import metric
from metrics.kpis.compute import Query
from pipelines.common.segments import Segments
from pipelines.signin.access import narrow, visible_crises, within

if TYPE_CHECKING:
    import polars as pl


@dataclass(frozen=True)
class View:
    """The global filters every page honours: a date range and segment values per dimension.

    ``limit`` is the actor's segments (empty = the whole organisation); ``segments`` is always
    within it, even when a link or a page asks for more.
    """

    date_from: date | None = None
    date_to: date | None = None
    segments: Segments = ()
    language: str = "en"
    limit: Segments = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "segments", narrow(tuple(self.segments), self.limit))

    def query(self, metrics: tuple[str, ...], grain: str = "week", dimension: str | None = None) -> Query:
        return Query(metrics, grain, dimension, self.date_from, self.date_to, self.segments)

    def label(self, name: str) -> str:
        return metric(name).display_label(self.language)

    def crises(self, log: pl.DataFrame) -> pl.DataFrame:
        """The crises of ``log`` (the crisis log or its table form) this view may show."""
        return visible_crises(log, self.limit)

    def shows_crisis(self, dimension: str, segment: str) -> bool:
        return within(self.limit, dimension, segment)

    def offered(self, options: dict[str, list[str]]) -> dict[str, list[str]]:
        """The filter values to offer: within the limit only, so other segments are not even named."""
        allowed = dict(self.limit)
        return {d: [v for v in values if d not in allowed or v in allowed[d]] for d, values in options.items()}
