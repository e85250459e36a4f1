"""Seeded helpdesk exports of any size for the benchmarks: tickets, survey answers and complaints as CSV.

The demo generator scaled up: the same organisation (channels, teams, seasons, crises), with
about 30% of tickets answered by a survey and about 4% of them complaints.
"""

from __future__ import annotations

from datetime import UTC, datetime
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


# The second export shape: 13 columns, one of them a free-text subject, the width that broke
# row-counted parts (issue 22). Written in chunks, so 10M rows need no more memory than 1M.
WIDE_CHUNK_ROWS = 250_000
WIDE_SUBJECTS = 4096  # distinct subject bodies drawn from; each row adds its own ticket number
_WIDE_SPAN_SECONDS = 2 * 365 * 86_400
_WIDE_VALUES = {
    "status": ["open", "pending", "solved", "closed"],
    "channel": ["email", "web", "phone", "chat", "social"],
    "category": ["billing", "refund", "delivery", "technical", "account", "complaint"],
    "priority": ["low", "normal", "high", "urgent"],
    "team": ["Billing", "Logistics", "Tech Support", "Accounts", "Care 客服"],
    "agent": ["Alice Moreau", "Liam Walsh", "王芳", "李伟", "Sofia Rossi", "Tom O'Brien", 'Ana "AJ" Jones'],
}
_ENGLISH = [
    "my order has not arrived, tracking says delivered",
    "the invoice shows a charge I do not recognise",
    'app crashes on "checkout" again',
    "refund requested 3 weeks ago, still nothing",
    "cannot log in after reset",
    "router drops the line every evening, tried everything",
    "wrong item in the parcel, size L instead of M",
    'please cancel my plan; I was told it would be "free"',
    "the agent promised a call back, none came",
    "billing address changed but the bill still goes to the old one",
]
_CHINESE = [
    "订单还没有到，物流显示已签收",
    "发票金额不对，多扣了一次费用",
    "退款申请三周了还没处理",
    "客服说会回电，但一直没有",
    "“免费”套餐为什么还收费，请解释",
]


def _wide_subjects(seed: int) -> list[str]:
    """Subject bodies of 40 to 400 characters: English or Chinese, with commas and quotes for CSV quoting."""
    import random

    rng = random.Random(seed)
    subjects = []
    for _ in range(WIDE_SUBJECTS):
        pool = _CHINESE if rng.random() < 0.25 else _ENGLISH
        target = int(40 + rng.betavariate(1.3, 3.5) * 360)
        text = rng.choice(pool)
        while len(text) < target:
            text += rng.choice((", ", "; ", " — ", ". ")) + rng.choice(pool)
        subjects.append(text[:target])
    return subjects


def _wide_chunk(first: int, rows: int, rng, subjects: list[str]):
    """One chunk of the wide export, tickets numbered from ``first``."""
    import numpy as np
    import polars as pl

    start = int(datetime(2024, 11, 18, tzinfo=UTC).timestamp())
    created = rng.integers(0, _WIDE_SPAN_SECONDS, rows)
    responded = created + rng.integers(60, 4 * 3600, rows)
    resolved = responded + rng.integers(600, 5 * 86_400, rows)
    closed = resolved + rng.integers(3600, 10 * 86_400, rows)

    def stamps(seconds):
        return pl.Series((seconds + start) * 1_000_000).cast(pl.Datetime("us"))

    ids = np.arange(first, first + rows)
    frame = pl.DataFrame(
        {
            "ticket_id": pl.Series(ids).cast(pl.String).str.zfill(8).str.replace(r"^", "W-"),
            "created_at": stamps(created),
            "first_response_at": stamps(responded),
            "resolved_at": stamps(resolved),
            "closed_at": stamps(closed),
            **{
                name: pl.Series(values).gather(rng.integers(0, len(values), rows))
                for name, values in _WIDE_VALUES.items()
            },
            "customer_id": pl.Series(rng.integers(1, 200_000, rows))
            .cast(pl.String)
            .str.zfill(6)
            .str.replace(r"^", "CUST-"),
            "subject": pl.Series(subjects).gather(rng.integers(0, len(subjects), rows))
            + pl.Series(ids).cast(pl.String).str.replace(r"^", " (ref "),
        }
    )
    return frame.with_columns(pl.col("subject") + ")")


def write_wide_export(folder: Path, tickets: int, seed: int = 1) -> Path:
    """Write wide_tickets.csv: ``tickets`` tickets in 13 columns with a free-text subject; returns its path."""
    import numpy as np

    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "wide_tickets.csv"
    if path.exists():
        return path
    rng = np.random.default_rng(seed)
    subjects = _wide_subjects(seed)
    partial = path.with_suffix(".partial")
    with partial.open("wb") as sink:
        for first in range(1, tickets + 1, WIDE_CHUNK_ROWS):
            chunk = _wide_chunk(first, min(WIDE_CHUNK_ROWS, tickets + 1 - first), rng, subjects)
            chunk.write_csv(sink, include_header=first == 1, datetime_format=TIMESTAMP_FORMAT)
    partial.replace(path)
    return path
