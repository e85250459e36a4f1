"""Ingest one export file end to end: read → stage → load, as one transaction."""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import queue
import shutil
import tempfile
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import polars as pl
import pyarrow as pa

from pipelines.common import limits
from pipelines.common.errors import IngestError
from pipelines.load import (
    BatchMeta,
    BatchResult,
    PartCounts,
    begin_batch,
    count_part,
    finish_batch,
    known_keys,
    load_part,
    load_staged,
    replace_changed,
    store_rejected,
)
from pipelines.read.export import read_export
from pipelines.read.stream import CsvStream, InvalidUtf8, NotStreamable, PolarsRefused, open_stream
from pipelines.stage.profiles import Profile, choose_profile
from pipelines.stage.scales import SCALE_ALIASES
from pipelines.stage.staging import KEY, LINE, LINES, RAW, Staged, stage
from pipelines.warehouse.hashes import row_hash_sql
from pipelines.warehouse.schema import KINDS, TABLES
from pipelines.warehouse.store import disk_full_in_one_line, exclusive_write, rollback, warehouse_name


def local_timezone() -> str:
    """The machine's IANA zone name (the default source zone), or UTC when it cannot be named."""
    tzinfo = datetime.now().astimezone().tzinfo
    key = getattr(tzinfo, "key", None)
    if key:
        return key
    try:
        link = Path("/etc/localtime").resolve()
        if "zoneinfo" in link.parts:
            return "/".join(link.parts[link.parts.index("zoneinfo") + 1 :])
    except OSError:
        pass
    name = tzinfo.tzname(None) if tzinfo else None
    return "UTC" if name in (None, "UTC", "GMT") else name


def ingest_file(
    con: duckdb.DuckDBPyConnection,
    source: str | Path | bytes,
    kind: str,
    file_name: str | None = None,
    profile: str | None = None,
    mapping: dict[str, str] | None = None,
    source_tz: str | None = None,
    loaded_by: str = "",
    on_wait: Callable[[str], None] | None = None,
    sheet: str | None = None,
    scale: str | None = None,
) -> BatchResult:
    """Ingest one file (a path or uploaded bytes) as ``kind``; raise IngestError if it cannot be read.

    ``scale`` names the scale of survey answers that name none (1-5, 1-7, 0-10, good-bad),
    over the profile's; without either it is inferred from the answers.

    A large text table is read, staged and loaded part by part inside the file's one
    transaction, so memory stays bounded whatever the file's size. The marts built from the
    canonical tables are the caller's to rebuild (``metrics.kpis.marts.load_export`` does).
    A load already running into the same warehouse in this process goes first; ``on_wait`` hears
    that this one waits.
    """
    label = file_name or (Path(source).name if isinstance(source, (str, Path)) else "upload")
    with exclusive_write(con, on_wait):
        target = f"to load {label} into {warehouse_name(con)}"
        with disk_full_in_one_line(con, target, "nothing was loaded"):
            result = _ingest(con, source, kind, file_name, profile, mapping, source_tz, loaded_by, sheet, scale)
    return result


def _ingest(
    con: duckdb.DuckDBPyConnection,
    source: str | Path | bytes,
    kind: str,
    file_name: str | None,
    profile: str | None,
    mapping: dict[str, str] | None,
    source_tz: str | None,
    loaded_by: str,
    sheet: str | None = None,
    scale: str | None = None,
) -> BatchResult:
    label = file_name or (Path(source).name if isinstance(source, (str, Path)) else "upload")
    if kind not in KINDS:
        raise IngestError(label, f"unknown kind {kind!r} (use {', '.join(KINDS)})")
    scale = _scale_name(label, scale)
    limits.check(label)  # before a file is opened, streamed or not
    if sheet is None and isinstance(source, (str, Path)) and Path(source).is_file():
        with tempfile.TemporaryDirectory(prefix="csat-radar-ingest-") as workdir:
            stream = open_stream(Path(source), file_name or Path(source).name, Path(workdir))
            while stream is not None:
                try:
                    return _ingest_streamed(
                        con, stream, Path(source), kind, profile, mapping, source_tz, loaded_by, scale
                    )
                except InvalidUtf8:
                    # Rare, so the first read stays strict (cheaper); the next rejects those rows.
                    stream = dataclasses.replace(stream, lossy=True)
                except PolarsRefused:
                    # A quirk Polars refuses (a quote inside a field): Python's reader, slower, reads it.
                    stream = dataclasses.replace(stream, python_reader=True)
                except NotStreamable:
                    break  # a profile that needs every row at once (a conversation log)
    raw = read_export(source, file_name, sheet)
    data = Path(source).read_bytes() if isinstance(source, (str, Path)) else source
    chosen = with_scale(choose_profile(kind, raw.source_columns, raw.file_name, profile), scale)
    zone = source_tz or local_timezone()
    _check_zone(raw.file_name, zone)
    staged = stage(raw, kind, chosen, mapping, zone)
    meta = BatchMeta(
        file_name=raw.file_name,
        content_hash=hashlib.sha256(data).hexdigest(),
        profile=chosen.name,
        file_format=raw.file_format,
        encoding=raw.encoding,
        source_tz=zone,
        mapping=staged.mapping,
        loaded_by=loaded_by,
    )
    return load_staged(con, staged, meta)


def _ingest_streamed(con: duckdb.DuckDBPyConnection, stream: CsvStream, *arguments: Any) -> BatchResult:
    """One streaming INSERT, or part by part when keys repeat across parts (an event log)."""
    try:
        return _ingest_stream(con, stream, *arguments)
    except RepeatedKeys:
        return _ingest_parts(con, stream, *arguments)  # each part must see the ones before it


def _ingest_stream(
    con: duckdb.DuckDBPyConnection,
    stream: CsvStream,
    path: Path,
    kind: str,
    profile: str | None,
    mapping: dict[str, str] | None,
    source_tz: str | None,
    loaded_by: str,
    scale: str | None,
) -> BatchResult:
    """Load a large text table in one streaming INSERT: each part is staged while DuckDB writes the last.

    One statement keeps DuckDB's memory bounded (it writes row groups to disk as they come),
    where one INSERT per part inside the file's transaction would hold them all until commit.
    Keys the warehouse already has are compared on a second cursor, which sees the warehouse
    as it was before this file; changed records wait in Parquet files and replace their old
    versions after the stream. A key repeated across parts needs the part-by-part path.
    """
    chosen = with_scale(choose_profile(kind, stream.headers, stream.file_name, profile), scale)
    if chosen.options.get("transform"):
        raise NotStreamable(f"profile {chosen.name} needs the whole file")
    zone = source_tz or local_timezone()
    _check_zone(stream.file_name, zone)
    table = TABLES[kind]
    columns = [*table.column_names, "attributes"]
    started, now = datetime.now(UTC), datetime.now(UTC)
    counts = PartCounts()
    state: dict = {"formats": {}, "mapping": {}, "rejected": [], "changed": []}
    probe = con.cursor()
    warehouse_has_rows = bool(probe.sql(f"SELECT count(*) FROM {table.name}").fetchall()[0][0])
    workdir = Path(tempfile.mkdtemp(prefix="csat-radar-stream-"))

    def staged_parts():
        for number, staged in enumerate(_staged_parts(stream, kind, chosen, mapping, zone, now)):
            state.update(formats=staged.formats, mapping=staged.mapping)
            records = staged.records.select(columns)
            if warehouse_has_rows:
                key_status = known_keys(probe, table, records)
                changed_keys = key_status.filter(pl.col("status") == "changed")
                changed = records.join(changed_keys, left_on=table.key, right_on=KEY, how="semi")
                if changed.height:
                    changed.write_parquet(workdir / f"changed-{number}.parquet")
                    state["changed"].append(workdir / f"changed-{number}.parquet")
                new = key_status.filter(pl.col("status") == "new")
                records = records.join(new, left_on=table.key, right_on=KEY, how="semi")
            else:
                key_status = records.select(pl.col(table.key).alias(KEY), pl.lit("new").alias("status"))
            count_part(staged, key_status, counts)
            if staged.rejected.height:
                state["rejected"].append(staged.rejected)
            yield records

    # DuckDB would otherwise cache up to 80% of the machine's memory while it writes; Polars needs its share.
    memory_limit = con.sql("SELECT current_setting('memory_limit')").fetchall()[0][0]
    con.execute(f"SET memory_limit = '{STREAM_MEMORY_LIMIT}'")
    batch_id = begin_batch(con)
    try:
        parts = _prefetched(staged_parts())
        first = next(parts, None)
        if first is not None:
            schema = first.to_arrow().schema

            def batches():
                try:
                    for frame in itertools.chain([first], parts):
                        yield from frame.to_arrow().cast(schema).to_batches()
                except BaseException as exc:  # DuckDB wraps it in its own error; raised below as it was
                    state["failure"] = exc
                    raise

            con.register("streamed_records", pa.RecordBatchReader.from_batches(schema, batches()))
            column_list = ", ".join(columns)
            try:
                con.execute(
                    f"""INSERT INTO {table.name} ({column_list}, row_hash, batch_id)
                        SELECT {column_list}, {row_hash_sql(table)}, {batch_id} FROM streamed_records"""
                )
            except duckdb.Error:
                if state.get("failure") is not None:
                    raise state["failure"] from None
                raise
            con.unregister("streamed_records")
            repeated = con.sql(
                f"SELECT count(*) - count(DISTINCT {table.key}) FROM {table.name} WHERE batch_id = {batch_id}"
            ).fetchall()[0][0]
            if repeated:
                raise RepeatedKeys(f"{repeated} keys repeat across parts of the file")
            if state["changed"]:
                replace_changed(con, table, [str(p) for p in state["changed"]], batch_id)
        for rejected in state["rejected"]:
            store_rejected(con, rejected, batch_id)
        meta = BatchMeta(
            file_name=stream.file_name,
            content_hash=_file_hash(path),
            profile=chosen.name,
            file_format=stream.file_format,
            encoding=stream.encoding,
            source_tz=zone,
            mapping=state["mapping"],
            loaded_by=loaded_by,
        )
        return finish_batch(con, batch_id, kind, meta, counts, started, state["formats"])
    except BaseException:
        rollback(con)
        raise
    finally:
        probe.close()
        con.execute(f"SET memory_limit = '{memory_limit}'")
        shutil.rmtree(workdir, ignore_errors=True)


def _prefetched(parts: Iterator[pl.DataFrame]) -> Iterator[pl.DataFrame]:
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


STREAM_MEMORY_LIMIT = "400MB"


class RepeatedKeys(NotStreamable):
    """A key appears in more than one part of a streamed file."""


def _ingest_parts(
    con: duckdb.DuckDBPyConnection,
    stream: CsvStream,
    path: Path,
    kind: str,
    profile: str | None,
    mapping: dict[str, str] | None,
    source_tz: str | None,
    loaded_by: str,
    scale: str | None,
) -> BatchResult:
    """Load a large file part by part in its one transaction, each part against the warehouse as the last left it.

    Slower and holding more memory than the streaming INSERT (DuckDB keeps the parts until
    commit), but right when a key's rows are spread over several parts. With no order column
    a first pass finds the keys whose rows differ, which are rejected as in a small file.
    """
    chosen = with_scale(choose_profile(kind, stream.headers, stream.file_name, profile), scale)
    zone = source_tz or local_timezone()
    started, now = datetime.now(UTC), datetime.now(UTC)
    conflicts = None
    if not any(column in stream.headers for column in chosen.options.get("order_by", [])):
        conflicts = _conflicts_across_parts(con, stream, kind, chosen, mapping, zone, now)
    counts, formats, columns = PartCounts(), {}, {}
    batch_id = begin_batch(con)
    try:
        for staged in _staged_parts(stream, kind, chosen, mapping, zone, now, conflicts):
            formats, columns = staged.formats, staged.mapping
            load_part(con, staged, batch_id, counts)
        meta = BatchMeta(
            file_name=stream.file_name,
            content_hash=_file_hash(path),
            profile=chosen.name,
            file_format=stream.file_format,
            encoding=stream.encoding,
            source_tz=zone,
            mapping=columns,
            loaded_by=loaded_by,
        )
        return finish_batch(con, batch_id, kind, meta, counts, started, formats)
    except BaseException:
        rollback(con)
        raise


def _conflicts_across_parts(
    con: duckdb.DuckDBPyConnection,
    stream: CsvStream,
    kind: str,
    profile: Profile,
    mapping: dict[str, str] | None,
    zone: str,
    now: datetime,
) -> pl.DataFrame:
    """Keys whose valid rows differ anywhere in a large file (as ``conflicting_keys``): a first pass over its parts.

    The rows' keys and hashes wait in Parquet files and are grouped by DuckDB, which spills to
    disk, so memory stays bounded however many keys the file has.
    """
    workdir = Path(tempfile.mkdtemp(prefix="csat-radar-keys-"))
    try:
        files = []
        for number, staged in enumerate(_staged_parts(stream, kind, profile, mapping, zone, now)):
            if staged.versions is not None and staged.versions.height:
                files.append(str(workdir / f"versions-{number}.parquet"))
                staged.versions.write_parquet(files[-1])
        if not files:
            return pl.DataFrame(schema={KEY: pl.String, LINES: pl.String})
        return con.sql(
            f"""SELECT {KEY}, string_agg("{LINE}"::VARCHAR, ', ' ORDER BY "{LINE}") AS {LINES}
                FROM read_parquet(?) GROUP BY {KEY} HAVING count(DISTINCT {RAW}) > 1""",
            params=[files],
        ).pl()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _staged_parts(
    stream: CsvStream,
    kind: str,
    profile: Profile,
    mapping: dict[str, str] | None,
    zone: str,
    now: datetime,
    conflicts: pl.DataFrame | None = None,
) -> Iterator[Staged]:
    """Each part of a large file staged, with the timestamp formats and survey scale its first parts showed."""
    plan = None
    for raw in stream.parts():
        staged = stage(raw, kind, profile, mapping, zone, now=now, plan=plan, conflicts=conflicts)
        plan, profile = staged.plan, with_scale(profile, staged.scale)  # one reading for the whole file
        yield staged


def with_scale(profile: Profile, scale: str | None) -> Profile:
    """The profile reading survey answers that name no scale on ``scale``, over its own; as it was for None."""
    if scale is None or profile.options.get("scale") == scale:
        return profile
    return dataclasses.replace(profile, options={**profile.options, "scale": scale})


def _scale_name(file_name: str, scale: str | None) -> str | None:
    if scale is None:
        return None
    name = SCALE_ALIASES.get(scale.strip().lower())
    if name is None:
        raise IngestError(file_name, f"unknown scale {scale!r} (use 1-5, 1-7, 0-10 or good-bad)")
    return name


def _file_hash(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(16 * 1024 * 1024):
            digest.update(chunk)
    return digest.hexdigest()


def _check_zone(file_name: str, zone: str) -> None:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError, OSError) as exc:  # "Asia" is a folder of zones; OSError too
        raise IngestError(file_name, f"unknown time zone {zone[:60]!r}") from exc


@dataclass(frozen=True)
class Preview:
    """What a load would do, without writing: how the file was read and mapped, and its first rows."""

    file_name: str
    file_format: str
    encoding: str
    profile: str
    mapping: dict[str, list[str]]
    unmapped: list[str]
    rows_read: int
    rows_valid: int
    rejections: dict[str, int]
    head: pl.DataFrame


def preview_file(
    source: bytes,
    kind: str,
    file_name: str,
    profile: str | None = None,
    mapping: dict[str, str] | None = None,
    source_tz: str | None = None,
    rows: int = 20,
    sheet: str | None = None,
    scale: str | None = None,
) -> Preview:
    """Read, map and validate an export as ``ingest_file`` would, and report it without loading."""
    if kind not in KINDS:
        raise IngestError(file_name, f"unknown kind {kind!r} (use {', '.join(KINDS)})")
    raw = read_export(source, file_name, sheet)
    chosen = with_scale(choose_profile(kind, raw.source_columns, raw.file_name, profile), _scale_name(file_name, scale))
    zone = source_tz or local_timezone()
    _check_zone(raw.file_name, zone)
    staged = stage(raw, kind, chosen, mapping, zone)
    used = {column for sources in staged.mapping.values() for column in sources}
    reasons = dict(staged.rejected.group_by("reason").len().iter_rows()) if "reason" in staged.rejected.columns else {}
    return Preview(
        file_name=raw.file_name,
        file_format=raw.file_format,
        encoding=raw.encoding,
        profile=chosen.name,
        mapping=staged.mapping,
        unmapped=[c for c in raw.source_columns if c not in used],
        rows_read=staged.rows_read,
        rows_valid=staged.rows.height,
        rejections={str(k): int(v) for k, v in reasons.items()},
        head=staged.records.head(rows),
    )
