"""Build a demo warehouse from the seeded generator, loaded through the same path as real files."""

from __future__ import annotations

import json
import os
from pathlib import Path

import polars as pl

from pipelines.demo.generator import DemoData, generate
from pipelines.load import BatchMeta, load_staged
from pipelines.read.raw import LINE
from pipelines.stage.columns import KEY, ORDER, RAW
from pipelines.stage.staging import Staged
from pipelines.warehouse.schema import TABLES
from pipelines.warehouse.store import connect, table_counts

FRAMES = {"tickets": "tickets", "surveys": "surveys", "complaints": "complaints"}


def _as_staged(kind: str, records: pl.DataFrame) -> Staged:
    """Generated records are already canonical: one accepted row per record, nothing rejected."""
    key = TABLES[kind].key
    rows = records.select(
        pl.int_range(1, pl.len() + 1, dtype=pl.Int64).alias(LINE),
        pl.col(key).alias(KEY),
        pl.lit(1, dtype=pl.UInt32).alias(ORDER),
        pl.col(key).alias(RAW),
    )
    rejected = pl.DataFrame(
        schema={"line_number": pl.Int64, "reason": pl.String, "column_name": pl.String, "raw_record": pl.String}
    )
    return Staged(kind=kind, records=records, rows=rows, rejected=rejected, mapping={})


def truth_records(data: DemoData) -> list[dict]:
    """The injected crises as JSON-ready records (dates as ISO strings)."""
    return [
        {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in row.items()}
        for row in data.truth.sort("start").iter_rows(named=True)
    ]


def build_demo(
    db_path: str | os.PathLike,
    seed: int = 7,
    truth_path: str | os.PathLike | None = None,
    inject_crises: bool = True,
    log_crises: bool = True,
    daily_tickets: float | None = None,
) -> dict:
    """Generate two years of demo data into a fresh warehouse at ``db_path``.

    The warehouse is built beside the target and moved into place at the end, so a failed
    build never leaves a half-filled warehouse behind.
    """
    target = Path(db_path)
    target.parent.mkdir(parents=True, exist_ok=True)
    building = target.with_name(target.name + ".building")
    building.unlink(missing_ok=True)
    size = {} if daily_tickets is None else {"daily_tickets": daily_tickets}
    data = generate(seed=seed, inject_crises=inject_crises, **size)
    con = connect(building)
    try:
        for kind, attribute in FRAMES.items():
            records = getattr(data, attribute)
            meta = BatchMeta(
                file_name=f"demo-{kind}-seed{seed}",
                content_hash=f"demo:{seed}:{kind}",
                profile="demo",
                file_format="generated",
                encoding="n/a",
                source_tz="UTC",
                loaded_by="csat-radar demo",
                as_of=data.as_of,
            )
            load_staged(con, _as_staged(kind, records), meta)
        from metrics.kpis.cube import build_cube

        build_cube(con)
        if log_crises:
            # The dashboard opens on a crisis log already filled by a weekly scan, as it would be in use.
            from metrics.crises.backtest import data_end
            from metrics.kpis.settings import load_settings
            from metrics.views.dashboard import refresh_crisis_log

            refresh_crisis_log(con, load_settings(as_of=data_end(con)), "week")
        counts = table_counts(con)
        con.execute("CHECKPOINT")
    finally:
        con.close()
    os.replace(building, target)
    Path(str(building) + ".wal").unlink(missing_ok=True)
    if truth_path:
        Path(truth_path).parent.mkdir(parents=True, exist_ok=True)
        Path(truth_path).write_text(json.dumps(truth_records(data), indent=2, ensure_ascii=False), encoding="utf-8")
    return {**counts, "crises": data.truth.height}
