"""The earliest plausible date of any record: one bound shared by ingest (which rejects older dates)
and by the KPIs, the radar and the summary (which leave older rows of an older warehouse out).

The helpdesks whose exports this reads (ServiceNow, Zendesk, Freshdesk, the FCC and CFPB
complaint databases) hold nothing from before 2000; dates that early are placeholders or
parse accidents: 0001-01-01 (a .NET or SQL minimum), 1900-01-01 (Excel's day 1), 1970-01-01
(the Unix epoch). One such row once stretched every calendar of periods over two thousand
years. An organisation with older history sets CSAT_RADAR_EARLIEST_DATE.
"""

from __future__ import annotations

import os
from datetime import UTC, date, datetime

EARLIEST_ENV = "CSAT_RADAR_EARLIEST_DATE"
DEFAULT_EARLIEST = date(2000, 1, 1)


def earliest_date() -> date:
    """CSAT_RADAR_EARLIEST_DATE (YYYY-MM-DD), or 2000-01-01; ValueError in one line for anything else."""
    text = os.environ.get(EARLIEST_ENV, "").strip()
    if not text:
        return DEFAULT_EARLIEST
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{EARLIEST_ENV} {text[:40]!r} is not a date (YYYY-MM-DD)") from None


def earliest_moment() -> datetime:
    """The start (UTC) of the earliest plausible day: a record stamped before it is implausible."""
    return datetime.combine(earliest_date(), datetime.min.time(), tzinfo=UTC)
