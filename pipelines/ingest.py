"""Ingest one export file end to end: read → stage → load, as one transaction.

Every file takes one path, whatever its size: it is read as parts (a file read whole is one
part), each part is staged with the same profile, zone and timestamp formats, and the parts are
loaded inside the file's one transaction. What the user asked travels as one ``LoadRequest``.
Only the writing differs: a large text table goes into the warehouse in one streaming INSERT,
and part by part when its keys repeat across parts (each part must see the ones before it).
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import shutil
import tempfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

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
    load_parts,
    replace_changed,
    store_rejected,
)
from pipelines.read.export import read_export, source_name
from pipelines.read.raw import LINE, RawExport
from pipelines.read.stream import CsvStream, InvalidUtf8, NotStreamable, PolarsRefused, open_stream
from pipelines.stage.columns import KEY, LINES, RAW
from pipelines.stage.matching import Guess, with_guesses
from pipelines.stage.profiles import Profile
from pipelines.stage.saved_profiles import (
    SavedProfile,
    based_on,
    check_profile_name,
    detect_profile,
    header_set,
    saved_profiles,
)
from pipelines.stage.scales import SCALE_ALIASES
from pipelines.stage.spellings import held_spellings, no_spellings
from pipelines.stage.staging import Staged, stage
from pipelines.stream_batches import prefetched, row_group_batches
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


@dataclass(frozen=True)
class LoadRequest:
    """What was asked of one file's load, besides the file itself: handed whole to every step."""

    kind: str
    file_name: str | None = None
    profile: str | None = None  # a built-in profile's name or a .toml path; None picks the best match
    mapping: dict[str, str] | None = None  # canonical column -> source column(s), over the profile's
    source_tz: str | None = None  # the zone of naive timestamps; None is this machine's
    loaded_by: str = ""
    sheet: str | None = None  # the sheet of a workbook
    scale: str | None = None  # the scale of survey answers that name none, over the profile's
    as_of: datetime | None = None  # the moment the export describes; None is its latest event
    save_profile: str | None = None  # keep the mapping the load used under this name, for the next such file


@dataclass(frozen=True)
class Reading:
    """How every part of one file is staged: one profile, zone and moment for the whole file."""

    kind: str
    profile: Profile
    mapping: dict[str, str] | None
    zone: str
    now: datetime
    # The spellings of segment values the warehouse holds: a file's own spelling of one does not win.
    spellings: pl.DataFrame = field(default_factory=no_spellings)


class FileParts(Protocol):
    """A file as the parts it is staged in, and how it was read: a ``CsvStream``, or a ``WholeFile``."""

    @property
    def file_name(self) -> str: ...

    @property
    def file_format(self) -> str: ...

    @property
    def encoding(self) -> str: ...

    @property
    def headers(self) -> list[str]: ...

    def parts(self) -> Iterator[RawExport]: ...


@dataclass(frozen=True)
class WholeFile:
    """A file read whole (a small one, a workbook, JSON, Parquet, uploaded bytes): its one part is all of it."""

    raw: RawExport

    @property
    def file_name(self) -> str:
        return self.raw.file_name

    @property
    def file_format(self) -> str:
        return self.raw.file_format

    @property
    def encoding(self) -> str:
        return self.raw.encoding

    @property
    def headers(self) -> list[str]:
        return self.raw.source_columns

    def parts(self) -> Iterator[RawExport]:
        yield self.raw


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
    as_of: datetime | None = None,
    save_profile: str | None = None,
) -> BatchResult:
    """Ingest one file (a path or uploaded bytes) as ``kind``; raise IngestError if it cannot be read.

    ``scale`` names the scale of survey answers that name none (1-5, 1-7, 0-10, good-bad),
    over the profile's; without either it is inferred from the answers. ``as_of`` is the moment
    the export describes (aware, or naive meaning UTC); without it, the latest event in the file.
    ``save_profile`` keeps the mapping the load used under that name, in the load's transaction:
    the next file with the same headers is read with it (``pipelines.stage.saved_profiles``).

    A large text table is read, staged and loaded part by part inside the file's one
    transaction, so memory stays bounded whatever the file's size. The marts built from the
    canonical tables are the caller's to rebuild (``metrics.kpis.marts.load_export`` does).
    A load already running into the same warehouse in this process goes first; ``on_wait`` hears
    that this one waits.
    """
    if as_of is not None and as_of.tzinfo is None:
        as_of = as_of.replace(tzinfo=UTC)
    request = LoadRequest(kind, file_name, profile, mapping, source_tz, loaded_by, sheet, scale, as_of, save_profile)
    with exclusive_write(con, on_wait):
        target = f"to load {source_name(source, file_name)} into {warehouse_name(con)}"
        with disk_full_in_one_line(con, target, "nothing was loaded"):
            return _ingest(con, source, request)


def _ingest(con: duckdb.DuckDBPyConnection, source: str | Path | bytes, request: LoadRequest) -> BatchResult:
    """The one path: a large text table on disk is streamed in parts, any other file read whole as one part."""
    label = source_name(source, request.file_name)
    if request.kind not in KINDS:
        raise IngestError(label, f"unknown kind {request.kind!r} (use {', '.join(KINDS)})")
    _scale_name(label, request.scale)  # refused before the file is opened
    if request.save_profile is not None:
        request = dataclasses.replace(request, save_profile=check_profile_name(label, request.save_profile))
    limits.check(label)  # before a file is opened, streamed or not
    if request.sheet is None and isinstance(source, (str, Path)) and Path(source).is_file():
        with tempfile.TemporaryDirectory(prefix="csat-radar-ingest-") as workdir:
            stream = open_stream(Path(source), label, Path(workdir))
            while stream is not None:
                try:
                    return _ingest_streamed(con, stream, source, request)
                except InvalidUtf8:
                    # Rare, so the first read stays strict (cheaper); the next rejects those rows.
                    stream = dataclasses.replace(stream, lossy=True)
                except PolarsRefused:
                    # A quirk Polars refuses (a quote inside a field): Python's reader, slower, reads it.
                    stream = dataclasses.replace(stream, python_reader=True)
                except NotStreamable:
                    break  # a profile that needs every row at once (a conversation log)
    return _ingest_parts(con, WholeFile(read_export(source, request.file_name, request.sheet)), source, request)


def _reading(
    file: FileParts,
    request: LoadRequest,
    saved: dict[str, SavedProfile],
    streaming: bool = False,
    con: duckdb.DuckDBPyConnection | None = None,
) -> Reading:
    """The profile (with the scale asked for), zone and spellings the file's parts are staged with.

    IngestError for a bad zone. A saved profile whose headers are the file's is preferred, and
    brings the zone it was saved with. Without ``con`` (a preview), no spelling is known beforehand.
    """
    profile = detect_profile(request.kind, file.headers, file.file_name, request.profile, saved)
    profile = with_scale(profile, _scale_name(file.file_name, request.scale))
    if streaming and profile.options.get("transform"):
        raise NotStreamable(f"profile {profile.name} needs the whole file")
    zone = request.source_tz or profile.options.get("source_tz") or local_timezone()
    _check_zone(file.file_name, zone)
    spellings = held_spellings(con, request.kind) if con is not None else no_spellings()
    return Reading(request.kind, profile, request.mapping, zone, datetime.now(UTC), spellings)


def _ingest_streamed(
    con: duckdb.DuckDBPyConnection, stream: CsvStream, source: str | Path, request: LoadRequest
) -> BatchResult:
    """One streaming INSERT, or part by part when keys repeat across parts (an event log)."""
    try:
        return _ingest_stream(con, stream, source, request)
    except RepeatedKeys:
        return _ingest_parts(con, stream, source, request)  # each part must see the ones before it


def _ingest_parts(
    con: duckdb.DuckDBPyConnection, file: FileParts, source: str | Path | bytes, request: LoadRequest
) -> BatchResult:
    """Load a file part by part in its one transaction, each part against the warehouse as the last left it.

    A file read whole is one part. For a large file this is slower and holds more memory than
    the streaming INSERT (DuckDB keeps the parts until commit), but right when a key's rows are
    spread over several parts. With no order column a first pass over a large file's parts finds
    the keys whose rows differ, which are rejected as in a small file (whose one part finds its own),
    and the ticket on the first line of each survey answer repeated over several tickets.
    """
    reading = _reading(file, request, saved_profiles(con), con=con)
    started = datetime.now(UTC)
    conflicts, first_tickets = None, None
    ordered = bool(reading.profile.order_columns(file.headers))
    if not isinstance(file, WholeFile) and not ordered:
        conflicts, first_tickets = _conflicts_across_parts(con, file, reading)
    staged_parts: Iterable[Staged] = _staged_parts(file, reading, conflicts, first_tickets)
    if isinstance(file, WholeFile):
        # Already in memory, so staged before its batch id is taken: a file that cannot be staged uses none.
        staged_parts = list(staged_parts)
    return load_parts(
        con, request.kind, staged_parts, lambda mapping: _batch_meta(file, source, request, reading, mapping), started
    )


@dataclass
class StreamLog:
    """What the parts of a streamed file showed while DuckDB wrote them, for the batch after the INSERT."""

    counts: PartCounts = field(default_factory=PartCounts)
    formats: dict[str, str] = field(default_factory=dict)
    mapping: dict[str, list[str]] = field(default_factory=dict)
    guesses: tuple[Guess, ...] = ()  # the first part's: the later parts read its columns
    rejected: list[pl.DataFrame] = field(default_factory=list)
    changed: list[Path] = field(default_factory=list)  # Parquet files of changed records
    failure: BaseException | None = None  # what stopped the parts, which DuckDB's error would hide


def _ingest_stream(
    con: duckdb.DuckDBPyConnection, stream: CsvStream, source: str | Path, request: LoadRequest
) -> BatchResult:
    """Load a large text table in one streaming INSERT: each part is staged while DuckDB writes the last.

    One statement keeps DuckDB's memory bounded (it writes row groups to disk as they come),
    where one INSERT per part inside the file's transaction would hold them all until commit.
    Keys the warehouse already has are compared on a second cursor, which sees the warehouse
    as it was before this file; changed records wait in Parquet files and replace their old
    versions after the stream. A key repeated across parts needs the part-by-part path.
    """
    reading = _reading(stream, request, saved_profiles(con), streaming=True, con=con)
    table = TABLES[request.kind]
    started = datetime.now(UTC)
    log = StreamLog()
    probe = con.cursor()
    warehouse_has_rows = bool(probe.sql(f"SELECT count(*) FROM {table.name}").fetchall()[0][0])
    workdir = Path(tempfile.mkdtemp(prefix="csat-radar-stream-"))
    # DuckDB would otherwise cache up to 80% of the machine's memory while it writes; Polars needs its share.
    memory_limit = con.sql("SELECT current_setting('memory_limit')").fetchall()[0][0]
    con.execute(f"SET memory_limit = '{STREAM_MEMORY_LIMIT}'")
    batch_id = begin_batch(con)
    try:
        records = _new_records(stream, reading, probe if warehouse_has_rows else None, workdir, log)
        if _insert_stream(con, prefetched(records), request.kind, batch_id, log) and log.changed:
            replace_changed(con, table, [str(p) for p in log.changed], batch_id)
        for rejected in log.rejected:
            store_rejected(con, rejected, batch_id)
        meta = _batch_meta(stream, source, request, reading, log.mapping)
        return finish_batch(con, batch_id, request.kind, meta, log.counts, started, log.formats, log.guesses)
    except BaseException:
        rollback(con)
        raise
    finally:
        probe.close()
        con.execute(f"SET memory_limit = '{memory_limit}'")
        shutil.rmtree(workdir, ignore_errors=True)


def _new_records(
    stream: CsvStream, reading: Reading, probe: duckdb.DuckDBPyConnection | None, workdir: Path, log: StreamLog
) -> Iterator[pl.DataFrame]:
    """Each staged part's records whose keys are new; changed ones wait in ``workdir``, counts go to ``log``.

    ``probe`` is a second cursor, which sees the warehouse as it was before this file (None
    when it was empty: every key is new).
    """
    table = TABLES[reading.kind]
    columns = [*table.column_names, "attributes"]
    for number, staged in enumerate(_staged_parts(stream, reading)):
        log.formats, log.mapping, log.guesses = staged.formats, staged.mapping, log.guesses or staged.guesses
        records = staged.records.select(columns)
        if probe is not None:
            key_status = known_keys(probe, table, records)
            changed_keys = key_status.filter(pl.col("status") == "changed")
            changed = records.join(changed_keys, left_on=table.key, right_on=KEY, how="semi")
            if changed.height:
                changed.write_parquet(workdir / f"changed-{number}.parquet")
                log.changed.append(workdir / f"changed-{number}.parquet")
            new = key_status.filter(pl.col("status") == "new")
            records = records.join(new, left_on=table.key, right_on=KEY, how="semi")
        else:
            key_status = records.select(pl.col(table.key).alias(KEY), pl.lit("new").alias("status"))
        count_part(staged, key_status, log.counts)
        if staged.rejected.height:
            log.rejected.append(staged.rejected)
        yield records


def _insert_stream(
    con: duckdb.DuckDBPyConnection, parts: Iterator[pl.DataFrame], kind: str, batch_id: int, log: StreamLog
) -> bool:
    """Write the parts' records in one INSERT; False when there were no parts. RepeatedKeys if a key repeats."""
    table = TABLES[kind]
    first = next(parts, None)
    if first is None:
        return False
    schema = first.to_arrow().schema

    def batches():
        try:
            frames = (frame.to_arrow().cast(schema) for frame in itertools.chain([first], parts))
            yield from row_group_batches(frames)
        except BaseException as exc:  # DuckDB wraps it in its own error; raised below as it was
            log.failure = exc
            raise

    con.register("streamed_records", pa.RecordBatchReader.from_batches(schema, batches()))
    column_list = ", ".join([*table.column_names, "attributes"])
    try:
        con.execute(
            f"""INSERT INTO {table.name} ({column_list}, row_hash, batch_id)
                SELECT {column_list}, {row_hash_sql(table)}, {batch_id} FROM streamed_records"""
        )
    except duckdb.Error:
        if log.failure is not None:
            raise log.failure from None
        raise
    con.unregister("streamed_records")
    repeated = con.sql(
        f"SELECT count(*) - count(DISTINCT {table.key}) FROM {table.name} WHERE batch_id = {batch_id}"
    ).fetchall()[0][0]
    if repeated:
        raise RepeatedKeys(f"{repeated} keys repeat across parts of the file")
    return True


STREAM_MEMORY_LIMIT = "400MB"


class RepeatedKeys(NotStreamable):
    """A key appears in more than one part of a streamed file."""


def _conflicts_across_parts(
    con: duckdb.DuckDBPyConnection, file: FileParts, reading: Reading
) -> tuple[pl.DataFrame, pl.DataFrame | None]:
    """Keys whose valid rows differ anywhere in a large file (as ``conflicting_keys``): a first pass over its parts.

    Also, for survey answers on several lines, the ticket of each one's first line (``KEY``,
    ``ticket_id``; None for other kinds), which every part links the answer to.

    The rows' keys and hashes wait in Parquet files and are grouped by DuckDB, which spills to
    disk, so memory stays bounded however many keys the file has.
    """
    workdir = Path(tempfile.mkdtemp(prefix="csat-radar-keys-"))
    try:
        files = []
        for number, staged in enumerate(_staged_parts(file, reading)):
            if staged.versions is not None and staged.versions.height:
                files.append(str(workdir / f"versions-{number}.parquet"))
                staged.versions.write_parquet(files[-1])
        if not files:
            return pl.DataFrame(schema={KEY: pl.String, LINES: pl.String}), None
        conflicts = con.sql(
            f"""SELECT {KEY}, string_agg("{LINE}"::VARCHAR, ', ' ORDER BY "{LINE}") AS {LINES}
                FROM read_parquet(?) GROUP BY {KEY} HAVING count(DISTINCT {RAW}) > 1""",
            params=[files],
        ).pl()
        if "ticket_id" not in con.sql("SELECT * FROM read_parquet(?) LIMIT 0", params=[files]).columns:
            return conflicts, None
        first_tickets = con.sql(
            f"""SELECT {KEY}, arg_min(ticket_id, "{LINE}") AS ticket_id
                FROM read_parquet(?) GROUP BY {KEY} HAVING count(*) > 1""",
            params=[files],
        ).pl()
        return conflicts, first_tickets
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _staged_parts(
    file: FileParts,
    reading: Reading,
    conflicts: pl.DataFrame | None = None,
    first_tickets: pl.DataFrame | None = None,
) -> Iterator[Staged]:
    """Each part of a file staged, with the timestamp formats and survey scale its first parts showed."""
    plan, profile, spellings = None, reading.profile, reading.spellings
    for raw in file.parts():
        staged = stage(raw, reading.kind, profile, reading.mapping, reading.zone, now=reading.now, plan=plan,
                       conflicts=conflicts, first_tickets=first_tickets, spellings=spellings)  # fmt: skip
        # One reading for the whole file: the first part's scale, guessed columns and spellings hold for the rest.
        plan, profile = staged.plan, with_guesses(with_scale(profile, staged.scale), staged.guesses)
        spellings = staged.spellings
        yield staged


def _batch_meta(
    file: FileParts, source: str | Path | bytes, request: LoadRequest, reading: Reading, mapping: dict
) -> BatchMeta:
    """The batch record of a loaded file: how it was read, mapped and by whom."""
    return BatchMeta(
        file_name=file.file_name,
        content_hash=_content_hash(source),
        profile=reading.profile.name,
        file_format=file.file_format,
        encoding=file.encoding,
        source_tz=reading.zone,
        mapping=mapping,
        loaded_by=request.loaded_by,
        as_of=request.as_of,
        saved_profile=_saved_profile(file, request, reading, mapping),
        chosen=dict(request.mapping or {}),
    )


def _saved_profile(file: FileParts, request: LoadRequest, reading: Reading, mapping: dict) -> SavedProfile | None:
    """The mapping this load used, as the profile ``request`` asks to save it as (None when it asks none)."""
    if not request.save_profile:
        return None
    columns = {column: tuple(parts) for column, parts in mapping.items()}
    options = reading.profile.options  # a saved profile confirmed again keeps its zone and scale
    zone, scale = request.source_tz or options.get("source_tz"), request.scale or options.get("scale")
    return SavedProfile(request.save_profile, request.kind, header_set(file.headers), columns,
                        based_on(reading.profile), zone, scale)  # fmt: skip


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


def _content_hash(source: str | Path | bytes) -> str:
    if isinstance(source, bytes):
        return hashlib.sha256(source).hexdigest()
    digest = hashlib.sha256()
    with Path(source).open("rb") as handle:
        while chunk := handle.read(16 * 1024 * 1024):
            digest.update(chunk)
    return digest.hexdigest()


def _check_zone(file_name: str, zone: str) -> None:
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
    # Columns found by their names or values, each with its reason and confidence (used when confident).
    guesses: tuple[Guess, ...] = ()


def preview_file(
    source: bytes | RawExport,
    kind: str,
    file_name: str,
    profile: str | None = None,
    mapping: dict[str, str] | None = None,
    source_tz: str | None = None,
    rows: int = 20,
    sheet: str | None = None,
    scale: str | None = None,
    saved: dict[str, SavedProfile] | None = None,
) -> Preview:
    """Read, map and validate an export as ``ingest_file`` would, and report it without loading.

    ``saved`` are the warehouse's saved profiles (``saved_profiles``), which detection prefers; ``source``
    may be the export already read (the Upload page's mapper reads it first), so it is not read twice.
    """
    if kind not in KINDS:
        raise IngestError(file_name, f"unknown kind {kind!r} (use {', '.join(KINDS)})")
    raw = source if isinstance(source, RawExport) else read_export(source, file_name, sheet)
    reading = _reading(
        WholeFile(raw), LoadRequest(kind, file_name, profile, mapping, source_tz, sheet=sheet, scale=scale), saved or {}
    )
    staged = stage(raw, kind, reading.profile, mapping, reading.zone)
    used = {column for sources in staged.mapping.values() for column in sources}
    reasons = dict(staged.rejected.group_by("reason").len().iter_rows()) if "reason" in staged.rejected.columns else {}
    return Preview(
        file_name=raw.file_name,
        file_format=raw.file_format,
        encoding=raw.encoding,
        profile=reading.profile.name,
        mapping=staged.mapping,
        unmapped=[c for c in raw.source_columns if c not in used],
        rows_read=staged.rows_read,
        rows_valid=staged.rows.height,
        rejections={str(k): int(v) for k, v in reasons.items()},
        head=staged.records.head(rows),
        guesses=staged.guesses,
    )
