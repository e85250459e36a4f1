"""Loading and undoing exports with the marts kept up to date: the one place that orchestrates both.

Ingest (``pipelines``) writes the canonical tables and knows nothing of KPIs; the marts
(the KPI cube, ``metrics.kpis.cube``) are derived from those tables and the KPI catalog. Both
faces (the Upload page and ``csat-radar ingest``/``undo``) load through here, so a load is never
left with a cube built for the batches before it.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb

from metrics.kpis.cube_refresh import capture_undo, refresh_cube
from pipelines.ingest import ingest_file
from pipelines.load import BatchResult
from pipelines.undo import undo_batch
from pipelines.warehouse.store import disk_full_in_one_line, exclusive_write, warehouse_name


def refresh_marts(
    con: duckdb.DuckDBPyConnection, on_wait: Callable[[str], None] | None = None, undone: int | None = None
) -> None:
    """Bring what is derived from the canonical tables (the KPI cube) up to date, one writer at a time.

    Only the days the new batches (or the ``undone`` one, captured before its undo) touch are
    recomputed (metrics/kpis/cube_refresh.py); the whole cube when that cannot be known.
    """
    doing, kept = f"to update the KPI cube of {warehouse_name(con)}", "the rows are in, the cube is as it was"
    with exclusive_write(con, on_wait), disk_full_in_one_line(con, doing, kept):
        refresh_cube(con, undone)


def load_export(
    con: duckdb.DuckDBPyConnection,
    source: str | Path | bytes,
    kind: str,
    *,
    refresh: bool = True,
    on_wait: Callable[[str], None] | None = None,
    **options: Any,
) -> BatchResult:
    """Ingest one file (``pipelines.ingest.ingest_file`` takes ``options``), then rebuild the marts.

    ``refresh=False`` leaves the rebuild to a caller loading several files, once for all of them.
    Between the load and the rebuild the cube does not cover the new batch and so is not used:
    the canonical tables answer, with the same numbers.
    """
    result = ingest_file(con, source, kind, on_wait=on_wait, **options)
    if refresh:
        refresh_marts(con, on_wait)
    return result


def undo_export(
    con: duckdb.DuckDBPyConnection, batch_id: int, on_wait: Callable[[str], None] | None = None
) -> dict[str, int]:
    """Undo one batch (``pipelines.undo.undo_batch``), then rebuild the marts."""
    outcome = undo_batch(con, batch_id, on_wait, before=lambda: capture_undo(con, batch_id))
    refresh_marts(con, on_wait, undone=batch_id)
    return outcome
