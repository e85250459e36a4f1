"""Load staged records into the warehouse: one file is one transaction, and every row is counted.

Each accepted source row ends up loaded (a new key), updated (it changed a known key),
or duplicate (it changed nothing); rejected rows are stored with their reasons, so
rows_read = rows_loaded + rows_updated + rows_duplicate + rows_rejected, always.
``keys_derived`` says how many of the accepted rows had no id and were keyed by their content,
``merged_spellings`` which spellings of a segment value were stored as one (pipelines/stage/spellings.py).
"""

from __future__ import annotations

import getpass
import json
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime

import duckdb
import polars as pl

from pipelines.common.errors import IngestError
from pipelines.stage.columns import KEY, ORDER, RAW
from pipelines.stage.matching import Guess
from pipelines.stage.saved_profiles import SavedProfile, save_profile
from pipelines.stage.staging import Staged
from pipelines.warehouse.hashes import row_hash_sql
from pipelines.warehouse.schema import TABLES, Table, event_columns
from pipelines.warehouse.store import rollback


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
    as_of: datetime | None = None  # the moment the export describes, when given (--as-of); else its latest event
    saved_profile: SavedProfile | None = None  # the mapping used, saved by name in the batch's transaction
    chosen: dict[str, str] = field(default_factory=dict)  # the columns the user chose (the mapper, --map)


@dataclass(frozen=True)
class MergedSpellings:
    """Spellings of one value of a segment column stored as one: "web, WEB → Web (312 rows)"."""

    column: str
    canonical: str
    spellings: tuple[str, ...]  # the file's other spellings, sorted
    rows: int  # the file's rows that had one of them

    def __str__(self) -> str:
        rows = f"{self.rows:,} row" + ("s" if self.rows != 1 else "")
        return f"{', '.join(self.spellings)} → {self.canonical} ({rows})"


def merged_spellings(respelled: list[pl.DataFrame]) -> list[MergedSpellings]:
    """The respelled values of a file's parts (``Staged.respelled``), one entry per column and canonical value."""
    if not respelled or all(part.is_empty() for part in respelled):
        return []
    merged = (
        pl.concat(respelled)
        .group_by("column", "canonical", "spelling")
        .agg(pl.col("rows").sum())
        .sort("column", "canonical", "spelling")
        .group_by("column", "canonical", maintain_order=True)
        .agg(pl.col("spelling"), pl.col("rows").sum())
    )
    return [
        MergedSpellings(r["column"], r["canonical"], tuple(r["spelling"]), int(r["rows"]))
        for r in merged.iter_rows(named=True)
    ]


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
    keys_derived: int = 0  # accepted rows without an id, keyed by their content ("derived:<16 hex>")
    as_of: datetime | None = None  # the moment the batch describes: its --as-of, else its latest event (UTC)
    # Values of segment columns differing only in case or spacing, stored in one spelling (shown to the user).
    merged_spellings: list[MergedSpellings] = field(default_factory=list)

    def to_json(self) -> dict:
        """The record printed by ``ingest --json``: ``as_of`` in ISO 8601 (UTC), or null for a file of no event."""
        record = asdict(self)
        record["as_of"] = self.as_of.isoformat() if self.as_of else None
        return record


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


@dataclass
class PartCounts:
    """What the parts of one file loaded so far: outcomes of accepted rows, and rejections by reason."""

    loaded: int = 0
    updated: int = 0
    duplicate: int = 0
    rejected: int = 0
    read: int = 0
    derived: int = 0
    rejections: Counter = field(default_factory=Counter)
    latest: datetime | None = None  # the latest event of the accepted rows: the moment the file describes
    respelled: list[pl.DataFrame] = field(default_factory=list)  # each part's ``Staged.respelled``


def begin_batch(con: duckdb.DuckDBPyConnection) -> int:
    """Open the file's transaction and take its batch id."""
    con.execute("BEGIN TRANSACTION")
    return con.sql("SELECT nextval('batch_id_seq')").fetchall()[0][0]


def load_part(con: duckdb.DuckDBPyConnection, staged: Staged, batch_id: int, counts: PartCounts) -> None:
    """Write one staged part of a file inside its open transaction, adding its outcomes to ``counts``.

    A key new to the warehouse is inserted; a changed one has its old version kept in the
    history (unless this same file wrote it) and replaced; an unchanged one is left alone.
    """
    table = TABLES[staged.kind]
    columns = [*table.column_names, "attributes"]
    column_list = ", ".join(columns)
    con.register("staged_records", staged.records.select(columns))
    try:
        known = con.sql(f"SELECT count(*) FROM staged_records s JOIN {table.name} t USING ({table.key})").fetchall()[0][
            0
        ]
        if known == 0:
            # The usual case of a first load: every key is new, nothing to compare or replace.
            con.execute(
                f"""INSERT INTO {table.name} ({column_list}, row_hash, batch_id)
                    SELECT {column_list}, {row_hash_sql(table)}, {batch_id} FROM staged_records"""
            )
            key_status = staged.records.select(pl.col(table.key).alias(KEY), pl.lit("new").alias("status"))
        else:
            key_status = _statuses(con, table, "staged_records")
            con.register("key_status", key_status)
            con.execute(
                f"""CREATE OR REPLACE TEMP TABLE incoming AS
                    SELECT s.*, {row_hash_sql(table, "s")} AS row_hash FROM staged_records s
                    SEMI JOIN key_status k ON k.{KEY} = s.{table.key} AND k.status <> 'same'"""
            )
            con.unregister("key_status")
            _replace(con, table, "incoming", batch_id)
            con.execute("DROP TABLE incoming")
    finally:
        con.unregister("staged_records")
    count_part(staged, key_status, counts)
    store_rejected(con, staged.rejected, batch_id)


def _statuses(con: duckdb.DuckDBPyConnection, table: Table, relation: str) -> pl.DataFrame:
    return con.sql(
        f"""SELECT s.{table.key} AS {KEY},
                   CASE WHEN t.{table.key} IS NULL THEN 'new'
                        WHEN t.row_hash = {row_hash_sql(table, "s")} THEN 'same' ELSE 'changed' END AS status
            FROM {relation} s LEFT JOIN {table.name} t USING ({table.key})"""
    ).pl()


def known_keys(cursor: duckdb.DuckDBPyConnection, table: Table, records: pl.DataFrame) -> pl.DataFrame:
    """Each record's key against the warehouse: new, same (unchanged) or changed."""
    cursor.register("part_records", records)
    try:
        return _statuses(cursor, table, "part_records")
    finally:
        cursor.unregister("part_records")


def _replace(con: duckdb.DuckDBPyConnection, table: Table, relation: str, batch_id: int) -> None:
    """Write the new and changed records of ``relation`` (with row_hash); old versions go to the history."""
    column_list = ", ".join([*table.column_names, "attributes"])
    # Keep the versions this batch replaces, so undoing it can put them back (not its own earlier parts').
    con.execute(
        f"""INSERT INTO {table.name}_history
            SELECT t.*, {batch_id} FROM {table.name} t JOIN {relation} i USING ({table.key})
            WHERE t.batch_id <> {batch_id}"""
    )
    con.execute(f"DELETE FROM {table.name} WHERE {table.key} IN (SELECT {table.key} FROM {relation})")
    con.execute(
        f"""INSERT INTO {table.name} ({column_list}, row_hash, batch_id)
            SELECT {column_list}, row_hash, {batch_id} FROM {relation}"""
    )


def replace_changed(con: duckdb.DuckDBPyConnection, table: Table, parquet_files: list[str], batch_id: int) -> None:
    """Replace the changed records a streamed load kept in Parquet files."""
    files = ", ".join(f"'{f}'" for f in parquet_files)
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE changed AS
            SELECT s.*, {row_hash_sql(table, "s")} AS row_hash FROM read_parquet([{files}]) s"""
    )
    _replace(con, table, "changed", batch_id)
    con.execute("DROP TABLE changed")


def count_part(staged: Staged, key_status: pl.DataFrame, counts: PartCounts) -> None:
    """Add one part's row outcomes and rejections to the file's counts."""
    outcomes = classify_rows(staged.rows, key_status).value_counts()
    found = {row["outcome"]: row["count"] for row in outcomes.iter_rows(named=True)}
    counts.loaded += found.get("loaded", 0)
    counts.updated += found.get("updated", 0)
    counts.duplicate += found.get("duplicate", 0)
    counts.rejected += staged.rejected.height
    counts.read += staged.rows_read
    counts.latest = max(filter(None, (counts.latest, latest_event(staged))), default=None)
    counts.derived += staged.derived_keys
    counts.respelled.append(staged.respelled)
    counts.rejections.update(
        staged.rejected.select(pl.col("reason").map_batches(_summaries, return_dtype=pl.String)).to_series().to_list()
    )


def latest_event(staged: Staged) -> datetime | None:
    """The latest moment any accepted record of ``staged`` names (created, answered, resolved, closed ...)."""
    columns = [c for c in event_columns(TABLES[staged.kind]) if c in staged.records.columns]
    if not columns or staged.records.is_empty():
        return None
    return staged.records.select(pl.max_horizontal(pl.col(columns).max())).item()


def store_rejected(con: duckdb.DuckDBPyConnection, rejected: pl.DataFrame, batch_id: int) -> None:
    """Keep rejected source rows with their line, record and reason."""
    if not rejected.height:
        return
    con.register(
        "staged_rejected",
        rejected.select(pl.lit(batch_id).alias("batch_id"), "line_number", "raw_record", "reason", "column_name"),
    )
    con.execute("INSERT INTO rejected_rows SELECT * FROM staged_rejected")
    con.unregister("staged_rejected")


def finish_batch(
    con: duckdb.DuckDBPyConnection, batch_id: int, kind: str, meta: BatchMeta, counts: PartCounts,
    started: datetime, formats: dict[str, str], guesses: tuple[Guess, ...] = (),
) -> BatchResult:  # fmt: skip
    """Record the batch, check that every row read is accounted for, and commit the file's transaction.

    The batch's ``mapping`` says which column each canonical one was read from, which of them the
    user chose, and which were guessed, with the guess's reason and confidence.
    """
    result = BatchResult(
        file=meta.file_name,
        kind=kind,
        profile=meta.profile,
        rows_read=counts.read,
        rows_loaded=counts.loaded,
        rows_updated=counts.updated,
        rows_duplicate=counts.duplicate,
        rows_rejected=counts.rejected,
        rejections=dict(sorted(counts.rejections.items())),
        batch_id=batch_id,
        encoding=meta.encoding,
        file_format=meta.file_format,
        keys_derived=counts.derived,
        as_of=_in_utc(meta.as_of or counts.latest),
        merged_spellings=merged_spellings(counts.respelled),
    )
    if meta.as_of is not None and counts.latest is not None and result.as_of < counts.latest:
        # "Now" before the file's own events would leave them in the future of every KPI and the radar.
        raise IngestError(
            meta.file_name,
            f"--as-of {result.as_of:%Y-%m-%d %H:%M} UTC is before the file's latest event, "
            f"{_in_utc(counts.latest):%Y-%m-%d %H:%M} UTC; the moment an export describes is at or after its events",
        )
    accounted = result.rows_loaded + result.rows_updated + result.rows_duplicate + result.rows_rejected
    if accounted != result.rows_read:
        raise RuntimeError(f"row accounting broken: read {result.rows_read}, accounted {accounted}")
    # How the file was read: its columns, formats, what the user chose, the guesses it used and the
    # spellings it merged (for the batch history).
    mapping = {
        "columns": meta.mapping,
        "formats": formats,
        "chosen": meta.chosen,
        "guessed": [asdict(g) for g in used_guesses(meta.mapping, guesses)],
        "spellings": [asdict(m) for m in result.merged_spellings],
    }
    con.execute(
        """INSERT INTO batches (batch_id, file_name, content_hash, kind, profile, mapping, file_format,
               encoding, source_tz, rows_read, rows_loaded, rows_updated, rows_duplicate, rows_rejected,
               keys_derived, started_at, finished_at, loaded_by, status, as_of)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, now(), ?, 'loaded', ?)""",
        [
            batch_id, meta.file_name, meta.content_hash, kind, meta.profile,
            json.dumps(mapping, ensure_ascii=False), meta.file_format, meta.encoding, meta.source_tz,
            result.rows_read, result.rows_loaded, result.rows_updated, result.rows_duplicate,
            result.rows_rejected, result.keys_derived, started, meta.loaded_by or _current_user(),
            result.as_of,
        ],
    )  # fmt: skip
    if meta.saved_profile is not None:
        save_profile(con, meta.saved_profile, meta.loaded_by or _current_user())
    con.execute("COMMIT")
    return result


def _in_utc(moment: datetime | None) -> datetime | None:
    """A moment in UTC, as the warehouse reads it back (naive means UTC)."""
    if moment is None:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def used_guesses(mapping: dict[str, list[str]], guesses: tuple[Guess, ...]) -> list[Guess]:
    """The guesses a load read its columns by: confident ones whose column is the one ``mapping`` used."""
    return [g for g in guesses if g.confident and mapping.get(g.column) == [g.source]]


def load_parts(
    con: duckdb.DuckDBPyConnection,
    kind: str,
    parts: Iterable[Staged],
    describe: Callable[[dict[str, list[str]]], BatchMeta],
    started: datetime | None = None,
) -> BatchResult:
    """Write the staged parts of one file in a single transaction, each against the warehouse as the last left it.

    ``describe`` makes the batch record from the column mapping the parts showed. On any
    failure nothing is written.
    """
    started = started or datetime.now(UTC)
    counts, formats, mapping, guesses = PartCounts(), {}, {}, ()
    batch_id = begin_batch(con)
    try:
        for staged in parts:
            formats, mapping, guesses = staged.formats, staged.mapping, guesses or staged.guesses
            load_part(con, staged, batch_id, counts)
        return finish_batch(con, batch_id, kind, describe(mapping), counts, started, formats, guesses)
    except BaseException:
        rollback(con)
        raise


def load_staged(con: duckdb.DuckDBPyConnection, staged: Staged, meta: BatchMeta) -> BatchResult:
    """Write one staged file in a single transaction; on any failure nothing is written."""
    return load_parts(con, staged.kind, [staged], lambda _mapping: meta)


def _summaries(reasons: pl.Series) -> pl.Series:
    """Reasons without the offending value: "score '7' outside scale 1-5" → "score outside scale 1-5"."""
    return reasons.str.replace_all(r"\s*'[^']*'", "")


def _current_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"
