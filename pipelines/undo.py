"""Undo a loaded batch: remove the rows it added and put back the versions of rows it replaced."""

from __future__ import annotations

from collections.abc import Callable

import duckdb

from pipelines.common.errors import IngestError
from pipelines.warehouse.schema import TABLES
from pipelines.warehouse.store import disk_full_in_one_line, exclusive_write, transaction, warehouse_name


def undo_batch(
    con: duckdb.DuckDBPyConnection,
    batch_id: int,
    on_wait: Callable[[str], None] | None = None,
    before: Callable[[], None] | None = None,
) -> dict[str, int]:
    """Undo one batch, after any load or undo already running into the warehouse in this process.

    ``before`` runs first, under the same write lock: the marts read there what the batch touched
    (``metrics.kpis.marts.undo_export``), which are the caller's to bring up to date.
    """
    doing = f"to undo batch {batch_id} in {warehouse_name(con)}"
    with exclusive_write(con, on_wait), disk_full_in_one_line(con, doing, "nothing was undone"):
        if before is not None:
            before()
        return _undo_batch(con, batch_id)


def _undo_batch(con: duckdb.DuckDBPyConnection, batch_id: int) -> dict[str, int]:
    """Undo one batch in a single transaction; returns how many new rows were removed and old versions restored.

    Refused (IngestError) when the batch is unknown, already undone, or a later batch replaced
    rows this batch wrote: undoing it first would leave the later batch's rows resting on
    nothing, so the later batch must be undone first.
    """
    found = con.execute("SELECT kind, status, file_name FROM batches WHERE batch_id = ?", [batch_id]).fetchall()
    if not found:
        raise IngestError(f"batch {batch_id}", "no such batch")
    kind, status, file_name = found[0]
    if status != "loaded":
        raise IngestError(f"batch {batch_id} ({file_name})", f"cannot be undone: it is {status}")
    table = TABLES[kind]
    history = f"{table.name}_history"
    later = con.execute(
        f"""SELECT DISTINCT h.replaced_by FROM {history} h
            WHERE h.batch_id = ? AND h.replaced_by <> ? ORDER BY 1""",
        [batch_id, batch_id],
    ).fetchall()
    if later:
        blocking = ", ".join(str(r[0]) for r in later)
        raise IngestError(
            f"batch {batch_id} ({file_name})", f"later batch {blocking} changed its rows; undo that batch first"
        )
    with transaction(con):
        removed = con.execute(f"SELECT count(*) FROM {table.name} WHERE batch_id = ?", [batch_id]).fetchall()[0][0]
        con.execute(f"DELETE FROM {table.name} WHERE batch_id = ?", [batch_id])
        columns = ", ".join([*table.column_names, "attributes", "row_hash", "batch_id"])
        restored = con.execute(f"SELECT count(*) FROM {history} WHERE replaced_by = ?", [batch_id]).fetchall()[0][0]
        con.execute(
            f"INSERT INTO {table.name} ({columns}) SELECT {columns} FROM {history} WHERE replaced_by = ?", [batch_id]
        )
        con.execute(f"DELETE FROM {history} WHERE replaced_by = ?", [batch_id])
        con.execute("UPDATE batches SET status = 'undone' WHERE batch_id = ?", [batch_id])
    return {"removed": int(removed - restored), "restored": int(restored)}
