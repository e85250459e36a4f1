"""Seeded demo data: a service organisation's tickets, surveys and complaints, with known crises.

Every random draw comes from one ``numpy.random.Generator`` in a fixed order, so a seed always
gives identical frames. Work is vectorised over tickets; the only Python loops run over crises
and over the few days of a sudden event.

The normal organisation meets its targets most of the time (about 90% of inquiries answered
within an hour, CSAT around 91-92%, about 4% of tickets complaints). On top of it the generator
injects the four crisis types of ``DOMAIN.md``, each confined to one segment and a known
window, and returns them as ``truth`` so detectors can be scored against it.

This module puts the parts together in their drawing order: ``organisation`` (who serves whom, at
which rates), ``crises`` (what is injected, where and when), ``tickets`` and ``surveys`` (the
simulation) and ``frames`` (the warehouse tables).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import numpy as np
import polars as pl

from pipelines.demo.crises import place_crises, truth_frame
from pipelines.demo.frames import complaints_frame, surveys_frame, tickets_frame
from pipelines.demo.organisation import BASE_DAILY_TICKETS, MICROS_PER_DAY
from pipelines.demo.surveys import simulate_surveys
from pipelines.demo.tickets import simulate_tickets


@dataclass(frozen=True)
class DemoData:
    """Generated demo tables plus the crises injected into them."""

    tickets: pl.DataFrame
    surveys: pl.DataFrame
    complaints: pl.DataFrame
    truth: pl.DataFrame
    # The moment the export was taken: midnight after its last day, so that day counts as whole.
    as_of: datetime


def generate(
    seed: int = 7,
    end: date = date(2026, 11, 15),
    days: int = 728,
    inject_crises: bool = True,
    daily_tickets: float = BASE_DAILY_TICKETS,
) -> DemoData:
    """Generate a service organisation's tickets, surveys and complaints for ``days`` days up to ``end``.

    ``daily_tickets`` sets the organisation's size (the demo's 300 a day give about 220,000
    tickets in two years; the benchmarks scale it to millions).

    The same ``seed`` gives identical frames. With ``inject_crises`` the data carries 10-12 crises
    of the four types in ``DOMAIN.md`` (fewer when ``days`` is short), none in the first 12 weeks,
    described one per row in ``truth``.
    """
    rng = np.random.default_rng(seed)
    first_day = end - timedelta(days=days - 1)
    crises = place_crises(rng, days) if inject_crises else []

    first_micros = int(datetime.combine(first_day, datetime.min.time(), tzinfo=UTC).timestamp()) * 1_000_000
    cutoff = first_micros + days * MICROS_PER_DAY  # the export is taken at midnight after `end`

    tickets = simulate_tickets(rng, first_day, days, crises, first_micros, cutoff, daily_tickets)
    surveys = simulate_surveys(rng, tickets, crises, cutoff)
    return DemoData(
        tickets=tickets_frame(rng, tickets),
        surveys=surveys_frame(rng, surveys),
        complaints=complaints_frame(rng, tickets),
        truth=truth_frame(crises, first_day),
        as_of=datetime.combine(end + timedelta(days=1), datetime.min.time(), tzinfo=UTC),
    )
