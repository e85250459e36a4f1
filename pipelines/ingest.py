"""Ingest one export file end to end: read → stage → load, as one transaction."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import duckdb
import polars as pl

from pipelines.errors import IngestError
from pipelines.load import BatchMeta, BatchResult, load_staged
from pipelines.profiles import choose_profile
from pipelines.readers import read_export
from pipelines.schema import KINDS
from pipelines.staging import stage


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
) -> BatchResult:
    """Ingest one file (a path or uploaded bytes) as ``kind``; raise IngestError if it cannot be read."""
    if kind not in KINDS:
        raise IngestError(file_name or str(source), f"unknown kind {kind!r} (use {', '.join(KINDS)})")
    raw = read_export(source, file_name)
    data = Path(source).read_bytes() if isinstance(source, (str, Path)) else source
    chosen = choose_profile(kind, raw.source_columns, raw.file_name, profile)
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


def _check_zone(file_name: str, zone: str) -> None:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise IngestError(file_name, f"unknown time zone {zone!r}") from exc


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
) -> Preview:
    """Read, map and validate an export as ``ingest_file`` would, and report it without loading."""
    if kind not in KINDS:
        raise IngestError(file_name, f"unknown kind {kind!r} (use {', '.join(KINDS)})")
    raw = read_export(source, file_name)
    chosen = choose_profile(kind, raw.source_columns, raw.file_name, profile)
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
