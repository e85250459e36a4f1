"""Seeded helpdesk exports of any size for the benchmarks: tickets, survey answers and complaints as CSV.

The demo generator scaled up: the same organisation (channels, teams, seasons, crises), with
about 30% of tickets answered by a survey and about 4% of them complaints.
"""

from __future__ import annotations

from pathlib import Path

from pipelines.demo.generator import generate

# Tickets per day that give one ticket per this many tickets asked for, over the generator's two years.
TICKETS_PER_DAILY_TICKET = 762.0
TIMESTAMP_FORMAT = "%Y-%m-%d %H:%M:%S"


def write_exports(folder: Path, tickets: int, seed: int = 1) -> dict[str, Path]:
    """Write tickets.csv, surveys.csv and complaints.csv for about ``tickets`` tickets; returns their paths."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = {kind: folder / f"{kind}.csv" for kind in ("tickets", "surveys", "complaints")}
    if all(p.exists() for p in paths.values()):
        return paths
    data = generate(seed=seed, daily_tickets=tickets / TICKETS_PER_DAILY_TICKET)
    for kind, frame in (("tickets", data.tickets), ("surveys", data.surveys), ("complaints", data.complaints)):
        partial = paths[kind].with_suffix(".partial")
        frame.write_csv(partial, datetime_format=TIMESTAMP_FORMAT)
        partial.replace(paths[kind])
    return paths
