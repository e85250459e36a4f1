"""Load staged records into the warehouse: one file is one transaction, and every row is counted.

Each accepted source row ends up loaded (a new key), updated (it changed a known key),
or duplicate (it changed nothing); rejected rows are stored with their reasons, so
rows_read = rows_loaded + rows_updated + rows_duplicate + rows_rejected, always.
"""

from __future__ import annotations

import getpass
import json
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime

import duckdb
import polars as pl

from pipelines.schema import TABLES
from pipelines.staging import KEY, ORDER, RAW, Staged


@dataclass
class BatchMeta:
    file_name: str
    content_hash: str
    profile: str
    file_format: str = ""
    encoding: str = ""
    source_tz: str = "UTC"
    mapping: dict = field(default_factory=dict)
    loaded_by: str = ""


@dataclass
class BatchResult:
    file: str
    kind: str
    profile: str
    rows_read: int
    rows_loaded: int
    rows_updated: int
    rows_duplicate: int
    rows_rejected: int
    rejections: dict[str, int]
    batch_id: int
    encoding: str = ""
    file_format: str = ""

    def to_json(self) -> dict:
        """The record printed by ``ingest --json``."""
        return asdict(self)


def _hash_sql(columns: list[str]) -> str:
    fields = ", ".join(f"'{c}': {c}" for c in columns)
    return f"md5(to_json({{{fields}}})::VARCHAR)"


def classify_rows(rows: pl.DataFrame, key_status: pl.DataFrame) -> pl.Series:
    """Outcome of each accepted source row: loaded, updated or duplicate.

    The first row of a key is loaded when the key is new, duplicate when the warehouse
    already holds exactly the resulting record, updated otherwise. Later rows of the same
    key (event logs, repeated keys) update it, unless they repeat the row before them.
    """
    joined = rows.join(key_status, on=KEY, how="left").sort(KEY, ORDER)
    previous_raw = pl.col(RAW).shift(1).over(KEY)
    outcome = (
        pl.when(pl.col(ORDER) == 1)
        .then(
            pl.when(pl.col("status") == "new")
            .then(pl.lit("loaded"))
            .when(pl.col("status") == "same")
            .then(pl.lit("duplicate"))
            .otherwise(pl.lit("updated"))
        )
        .when((pl.col("status") == "same") | (previous_raw == pl.col(RAW)))
        .then(pl.lit("duplicate"))
        .otherwise(pl.lit("updated"))
    )
    return joined.select(outcome.alias("outcome"))["outcome"]


def load_staged(con: duckdb.DuckDBPyConnection, staged: Staged, meta: BatchMeta) -> BatchResult:
    """Write one staged file in a single transaction; on any failure nothing is written."""
    table = TABLES[staged.kind]
    columns = [*table.column_names, "attributes"]
    started = datetime.now(UTC)
    con.execute("BEGIN TRANSACTION")
    try:
        batch_id = con.sql("SELECT nextval('batch_id_seq')").fetchall()[0][0]
        con.register("staged_records", staged.records.select(columns))
        con.execute(
            f"""CREATE OR REPLACE TEMP TABLE incoming AS
                SELECT s.*, {_hash_sql(columns)} AS row_hash FROM staged_records s"""
        )
        con.unregister("staged_records")
        key_status = con.sql(
            f"""SELECT i.{table.key} AS {KEY},
                       CASE WHEN t.{table.key} IS NULL THEN 'new'
                            WHEN t.row_hash = i.row_hash THEN 'same' ELSE 'changed' END AS status
                FROM incoming i LEFT JOIN {table.name} t USING ({table.key})"""
        ).pl()
        outcomes = classify_rows(staged.rows, key_status)
        counts = outcomes.value_counts()
        count = {row["outcome"]: row["count"] for row in counts.iter_rows(named=True)}

        column_list = ", ".join(columns)
        # Keep the versions this batch replaces, so undoing it can put them back.
        con.execute(
            f"""INSERT INTO {table.name}_history
                SELECT t.*, {batch_id} FROM {table.name} t JOIN incoming i USING ({table.key})
                WHERE t.row_hash <> i.row_hash"""
        )
        con.execute(
            f"""INSERT OR REPLACE INTO {table.name} ({column_list}, row_hash, batch_id)
                SELECT {column_list}, row_hash, {batch_id} FROM incoming
                WHERE NOT EXISTS (SELECT 1 FROM {table.name} t
                                  WHERE t.{table.key} = incoming.{table.key}
                                    AND t.row_hash = incoming.row_hash)"""
        )
        con.execute("DROP TABLE incoming")

        rejected = staged.rejected.select(
            pl.lit(batch_id).alias("batch_id"), "line_number", "raw_record", "reason", "column_name"
        )
        if rejected.height:
            con.register("staged_rejected", rejected)
            con.execute("INSERT INTO rejected_rows SELECT * FROM staged_rejected")
            con.unregister("staged_rejected")

        result = BatchResult(
            file=meta.file_name,
            kind=staged.kind,
            profile=meta.profile,
            rows_read=staged.rows_read,
            rows_loaded=count.get("loaded", 0),
            rows_updated=count.get("updated", 0),
            rows_duplicate=count.get("duplicate", 0),
            rows_rejected=staged.rejected.height,
            rejections=dict(
                sorted(
                    staged.rejected.select(pl.col("reason").map_batches(_summaries, return_dtype=pl.String))
                    .to_series()
                    .value_counts()
                    .iter_rows()
                )
            ),
            batch_id=batch_id,
            encoding=meta.encoding,
            file_format=meta.file_format,
        )
        accounted = result.rows_loaded + result.rows_updated + result.rows_duplicate + result.rows_rejected
        if accounted != result.rows_read:
            raise RuntimeError(f"row accounting broken: read {result.rows_read}, accounted {accounted}")

        mapping = {"columns": meta.mapping, "formats": staged.formats}
        con.execute(
            """INSERT INTO batches (batch_id, file_name, content_hash, kind, profile, mapping, file_format,
                   encoding, source_tz, rows_read, rows_loaded, rows_updated, rows_duplicate, rows_rejected,
                   started_at, finished_at, loaded_by, status)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, now(), ?, 'loaded')""",
            [
                batch_id,
                meta.file_name,
                meta.content_hash,
                staged.kind,
                meta.profile,
                json.dumps(mapping, ensure_ascii=False),
                meta.file_format,
                meta.encoding,
                meta.source_tz,
                result.rows_read,
                result.rows_loaded,
                result.rows_updated,
                result.rows_duplicate,
                result.rows_rejected,
                started,
                meta.loaded_by or _current_user(),
            ],
        )
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    return result


def _summaries(reasons: pl.Series) -> pl.Series:
    """Reasons without the offending value: "score '7' outside scale 1-5" → "score outside scale 1-5"."""
    return reasons.str.replace_all(r"\s*'[^']*'", "")


def _current_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"
