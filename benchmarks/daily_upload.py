"""The analyst's daily upload: 10,000 ticket rows, half new and half new versions of tickets already loaded.

``daily_export(tickets_csv, out)`` writes it from the benchmark's own export: the last 5,000
tickets again, now answered, resolved and closed (updates), and 5,000 new tickets, the 5,000
before those moved one day on under new ids. ``python -m benchmarks.daily_upload DB CSV`` loads it
into DB as ``csat-radar ingest`` does (the file, then the marts) and prints one JSON object: the
seconds spent opening the warehouse, ingesting the file, bringing the marts up to date, and closing.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import polars as pl

NEW, UPDATED = 5_000, 5_000
TIMES = ("created_at", "first_response_at", "resolved_at", "closed_at")
FORMAT = "%Y-%m-%d %H:%M:%S"


def daily_export(tickets_csv: Path, out: Path) -> Path:
    """Write the daily upload for the export ``tickets_csv`` (kept when already there)."""
    if out.exists():
        return out
    # Every column as text, as the export has it: the upload repeats the export's own spelling.
    last = pl.scan_csv(tickets_csv, infer_schema=False).tail(NEW + UPDATED).collect()
    stamp = {c: pl.col(c).str.to_datetime(FORMAT, strict=False) for c in TIMES}
    end = last.select(stamp["created_at"].max()).item()
    updated = last.tail(UPDATED).with_columns(
        pl.coalesce(stamp["first_response_at"], stamp["created_at"] + pl.duration(minutes=30)).dt.strftime(FORMAT)
        .alias("first_response_at"),
        pl.coalesce(stamp["resolved_at"], pl.lit(end) + pl.duration(hours=6)).dt.strftime(FORMAT).alias("resolved_at"),
        pl.coalesce(stamp["closed_at"], pl.lit(end) + pl.duration(hours=8)).dt.strftime(FORMAT).alias("closed_at"),
        pl.lit("closed").alias("status"),
        (pl.col("agent_replies").cast(pl.Int64, strict=False).fill_null(0) + 1).cast(pl.String).alias("agent_replies"),
    )  # fmt: skip
    new = last.head(NEW).with_columns(
        ("D-" + pl.col("ticket_id")).alias("ticket_id"),
        *((stamp[c] + pl.duration(days=1)).dt.strftime(FORMAT).alias(c) for c in TIMES),
    )
    partial = out.with_suffix(".partial")
    pl.concat([updated, new]).write_csv(partial)
    partial.replace(out)
    return out


def load(db: str, csv: str) -> dict[str, float]:
    """Load ``csv`` into ``db`` as the CLI does, timing each step."""
    started = time.perf_counter()
    from metrics.kpis.marts import refresh_marts
    from pipelines.ingest import ingest_file
    from pipelines.warehouse.store import connect

    imported = time.perf_counter()
    con = connect(db)
    opened = time.perf_counter()
    result = ingest_file(con, csv, "tickets", source_tz="UTC")
    ingested = time.perf_counter()
    refresh_marts(con)
    refreshed = time.perf_counter()
    con.close()
    closed = time.perf_counter()
    return {
        "imports": imported - started,
        "open": opened - imported,
        "ingest": ingested - opened,
        "marts": refreshed - ingested,
        "close": closed - refreshed,
        "rows": {"loaded": result.rows_loaded, "updated": result.rows_updated, "duplicate": result.rows_duplicate,
                 "rejected": result.rows_rejected},
    }  # fmt: skip


if __name__ == "__main__":
    print(json.dumps(load(sys.argv[1], sys.argv[2])))
