"""Feeding DuckDB a stream of staged parts: one part staged ahead in a thread, rows in whole row groups.

Kept apart from ``pipelines.ingest`` so the ingest's own steps stay in one room.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterable, Iterator

import polars as pl
import pyarrow as pa

# DuckDB's row group: rows a table keeps together, and what it writes to disk as one piece.
ROW_GROUP_ROWS = 122_880


def row_group_batches(tables: Iterable[pa.Table]) -> Iterator[pa.RecordBatch]:
    """The tables' rows, in order, as record batches of one whole row group each (the last one less).

    DuckDB's INSERT writes each record batch as row groups of its own, so parts whose sizes are
    not multiples of a row group left a partial one at every part's end (and Polars' chunks,
    smaller ones still); checkpointing merged those at close, which rewrote them: 7 s to close
    and a file 70% larger for 1M wide rows. The rows carried over are at most one row group.
    """
    pending: list[pa.Table] = []
    rows = 0
    for table in tables:
        pending.append(table)
        rows += table.num_rows
        if rows < ROW_GROUP_ROWS:
            continue
        joined = pa.concat_tables(pending)
        whole = rows - rows % ROW_GROUP_ROWS
        for start in range(0, whole, ROW_GROUP_ROWS):
            yield from joined.slice(start, ROW_GROUP_ROWS).combine_chunks().to_batches(max_chunksize=ROW_GROUP_ROWS)
        # A copy, so the part's buffers go once its whole row groups are written.
        pending, rows = [joined.slice(whole).combine_chunks()], rows - whole
        del joined
    if rows:
        yield from pa.concat_tables(pending).combine_chunks().to_batches(max_chunksize=ROW_GROUP_ROWS)


def prefetched(parts: Iterator[pl.DataFrame]) -> Iterator[pl.DataFrame]:
    """Run a generator one item ahead in a thread: the next part is staged while DuckDB writes this one."""
    ready: queue.Queue = queue.Queue(maxsize=1)
    done = object()

    def produce() -> None:
        try:
            for item in parts:
                ready.put(item)
            ready.put(done)
        except BaseException as exc:  # handed to the consumer, which raises it in its own thread
            ready.put(exc)

    worker = threading.Thread(target=produce, name="csat-radar-stage", daemon=True)
    worker.start()
    while (item := ready.get()) is not done:
        if isinstance(item, BaseException):
            raise item
        yield item
    worker.join()
