"""Staging: a raw export (all strings) → typed canonical records, with every bad row given a reason.

Grain in: one row per source record. Grain out: ``records`` one row per key (ticket,
answer or complaint), ``rows`` one row per accepted source record with the key it feeds,
``rejected`` one row per source record that cannot be loaded. A record without an id is
keyed by its content (``derived_keys``), so it is loaded, once, however often it is loaded.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

import polars as pl

from pipelines.common import limits
from pipelines.common.errors import ColumnNotFound, IngestError
from pipelines.read.raw import LINE, RawExport
from pipelines.read.sniff import REPLACEMENT
from pipelines.stage.columns import KEY, LINES, ORDER, RAW, REASON, REASON_COLUMN
from pipelines.stage.conversations import conversation_to_tickets
from pipelines.stage.derived_keys import is_derived, with_derived_keys
from pipelines.stage.matching import Guess, apply_guesses, guess_columns, missing_column, named_zone
from pipelines.stage.personal import hashing_salt, pseudonymise, pseudonymise_records
from pipelines.stage.profiles import Profile
from pipelines.stage.spellings import RESPELLED_SCHEMA, no_spellings, respell
from pipelines.stage.surveys import score_answers
from pipelines.stage.values import (
    TimestampParse,
    early_dates,
    normalise_nulls,
    parse_booleans,
    parse_durations,
    parse_numbers,
    parse_timestamps,
)
from pipelines.warehouse.schema import TABLES, Table

STATUS_VOCABULARY = {
    "new": "open", "open": "open", "opened": "open", "active": "open", "in progress": "open",
    "assigned": "open", "pending": "pending", "on hold": "pending", "hold": "pending", "waiting": "pending",
    "waiting on customer": "pending", "solved": "resolved", "resolved": "resolved", "done": "resolved",
    "closed": "closed", "completed": "closed", "cancelled": "closed", "canceled": "closed",
    "待处理": "open", "处理中": "open", "进行中": "open", "挂起": "pending", "等待中": "pending",
    "已解决": "resolved", "已处理": "resolved", "已完成": "resolved", "已关闭": "closed", "已结案": "closed",
}  # fmt: skip

FUTURE_TOLERANCE = timedelta(days=1)
# A first response or resolution later than this after creation is a date error (a wrong year,
# a placeholder like 2099), not a slow ticket; CSAT_RADAR_MAX_DURATION_DAYS raises it.


@dataclass(frozen=True)
class Staged:
    kind: str
    records: pl.DataFrame
    rows: pl.DataFrame
    rejected: pl.DataFrame
    mapping: dict[str, list[str]]
    formats: dict[str, str] = field(default_factory=dict)
    # How each timestamp column was parsed: handed to the next part of the same file.
    plan: dict[str, TimestampParse] = field(default_factory=dict)
    # The scale of survey answers that name none; the next part of the same file keeps it.
    scale: str | None = None
    # Each valid row's LINE, KEY and RAW, in a file with no order column: where keys conflict.
    versions: pl.DataFrame | None = None
    # Accepted rows whose id was empty, keyed by their content instead ("derived:<16 hex>").
    derived_keys: int = 0
    # Columns the profile did not map, found by their names or values (the confident ones are used).
    guesses: tuple[Guess, ...] = ()
    # The spelling of each folded segment value after this part (for the next), and the values respelled.
    spellings: pl.DataFrame = field(default_factory=no_spellings)
    respelled: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=RESPELLED_SCHEMA))

    @property
    def rows_read(self) -> int:
        return self.rows.height + self.rejected.height


def _resolve_mapping(
    raw: RawExport, kind: str, profile: Profile, overrides: dict[str, str]
) -> tuple[dict[str, tuple[str, ...]], tuple[Guess, ...]]:
    """The profile's mapping with the user's overrides, then the confident guesses for what neither maps.

    An override to no column ("") takes the column out, and no guess puts it back.
    """
    table = TABLES[kind]
    mapping = profile.resolve(kind, raw.source_columns)
    known = {h.lower(): h for h in raw.source_columns}
    for canonical, source in overrides.items():
        if canonical not in table.column_names and canonical not in (
            "first_response_minutes",
            "resolution_minutes",
        ):
            raise IngestError(raw.file_name, f"a column was chosen for {canonical!r}, which is not a {kind} column")
        if not source.strip():
            mapping.pop(canonical, None)
            continue
        parts = tuple(p.strip() for p in source.split("+"))
        missing = [p for p in parts if p.lower() not in known]
        if missing:
            columns = ", ".join(repr(h) for h in raw.source_columns)
            raise ColumnNotFound(raw.file_name, f"no column {missing[0]!r} in the file for {canonical} "
                                 f"(its columns: {columns})", canonical)  # fmt: skip
        mapping[canonical] = tuple(known[p.lower()] for p in parts)
    if profile.options.get("transform"):
        return mapping, ()  # a transformed export's columns are not the table's: nothing to guess
    unmapped = {canonical for canonical, source in overrides.items() if not source.strip()}
    guesses = tuple(g for g in guess_columns(raw, kind, mapping, profile) if g.column not in unmapped)
    return apply_guesses(mapping, guesses), guesses


def proposed_columns(
    raw: RawExport, kind: str, profile: Profile
) -> tuple[dict[str, tuple[str, ...]], tuple[Guess, ...]]:
    """The columns ``stage`` reads with no overrides, and its guesses: what the Upload page's mapper proposes."""
    return _resolve_mapping(_without_personal_data(raw), kind, profile, {})


def _combined(parts: tuple[str, ...]) -> pl.Expr:
    if len(parts) == 1:
        return pl.col(parts[0])
    return pl.concat_str([pl.col(p) for p in parts], separator=" ", ignore_nulls=True)


def _first_reason(reasons: list[tuple[pl.Series | pl.Expr, str]]) -> tuple[pl.Expr, pl.Expr]:
    """The first applicable reason of a row, and the column it concerns."""
    reason = pl.lit(None, dtype=pl.String)
    column = pl.lit(None, dtype=pl.String)
    for expr, col_name in reversed(reasons):
        expr = pl.lit(expr) if isinstance(expr, pl.Series) else expr
        reason = pl.when(expr.is_not_null()).then(expr).otherwise(reason)
        column = pl.when(expr.is_not_null()).then(pl.lit(col_name)).otherwise(column)
    return reason, column


def stage(
    raw: RawExport,
    kind: str,
    profile: Profile,
    overrides: dict[str, str] | None = None,
    source_tz: str = "UTC",
    now: datetime | None = None,
    plan: dict[str, TimestampParse] | None = None,
    conflicts: pl.DataFrame | None = None,
    first_tickets: pl.DataFrame | None = None,
    spellings: pl.DataFrame | None = None,
) -> Staged:
    """Map, type and validate one export for ``kind``; the input frame is not modified.

    ``plan`` is the ``plan`` of an earlier part of the same file: its timestamp formats are
    used again instead of being detected anew. ``conflicts`` are the keys (``conflicting_keys``)
    whose rows differ anywhere in the file this export is a part of; without it, this part's own.
    ``first_tickets`` (``KEY``, ``ticket_id``) are the tickets on the first lines of that file's
    survey answers repeated over several tickets; without it, this part's first lines decide.
    ``spellings`` (``pipelines.stage.spellings``) are the segment values' spellings already
    decided, by the warehouse and the file's earlier parts.
    """
    table = TABLES[kind]
    raw = _without_personal_data(raw)
    mapping, guesses = _resolve_mapping(raw, kind, profile, overrides or {})
    time_column = _check_mapping(raw, kind, profile, mapping, guesses)
    canon = _canonical(raw, mapping, profile, kind)
    zones = {name: named_zone(mapping.get(name, ())) or source_tz for name in canon.columns}
    typed = _typed_columns(canon, table, profile, zones, plan or {})
    frame, column_scale = _derived_columns(typed.frame, profile), None
    # Before any key is made of them (order counts, derived keys): one value, one key, however spelled.
    frame, spellings, respelled = respell(frame, no_spellings() if spellings is None else spellings)
    if kind == "surveys":
        frame, column_scale = _survey_answers(frame, raw, profile, typed, guesses)
    if kind == "orders":
        frame, order_reasons = _order_keys(frame, raw, profile)
        typed.reasons.append(order_reasons)
    transform = profile.options.get("transform")
    key_name = "message_id" if transform == "conversation" else table.key
    if transform != "conversation" and kind != "orders":
        frame = with_derived_keys(frame, table, raw, _unmapped(raw, mapping))
    checks = _row_checks(frame, raw, table, key_name, time_column, now or datetime.now(UTC))
    # Column-level parse failures come first: they explain a null more precisely.
    reason, reason_column = _first_reason(typed.reasons + checks)
    good, rejected = _set_aside(frame.with_columns(reason.alias(REASON), reason_column.alias(REASON_COLUMN)), raw)
    versions = None
    if transform == "conversation":
        rows, record_source, thread_rejected = conversation_to_tickets(good)
        rejected = pl.concat(
            [rejected, thread_rejected.join(_raw_records(raw, raw.source_columns, thread_rejected[LINE]), on=LINE)]
        )
    else:
        rows, record_source, rejected, versions = _keyed_rows(good, rejected, raw, table, conflicts, first_tickets)
    return Staged(
        kind=kind,
        records=_canonical_records(record_source, table),
        rows=rows,
        rejected=rejected.rename({REASON: "reason", REASON_COLUMN: "column_name", LINE: "line_number"}).sort(
            "line_number"
        ),
        mapping={k: list(v) for k, v in mapping.items()},
        formats=typed.formats,
        plan={name: replace(p, values=p.values.clear(), reasons=p.reasons.clear()) for name, p in typed.plans.items()},
        scale=column_scale,
        versions=versions,
        derived_keys=rows.filter(is_derived(pl.col(KEY))).height if transform != "conversation" else 0,
        guesses=guesses,
        spellings=spellings,
        respelled=respelled,
    )


def _unmapped(raw: RawExport, mapping: dict[str, tuple[str, ...]]) -> list[str]:
    """The source columns no canonical column is read from: kept as attributes."""
    mapped = {h for parts in mapping.values() for h in parts}
    return [c for c in raw.source_columns if c not in mapped]


def _check_mapping(
    raw: RawExport, kind: str, profile: Profile, mapping: dict[str, tuple[str, ...]], guesses: tuple[Guess, ...]
) -> str:
    """IngestError unless the mapping finds the key and time columns, each from one column of its name.

    Returns the time column: when a survey was answered, when anything else was created.
    """
    table = TABLES[kind]
    key_present = (
        table.key in mapping
        or profile.options.get("transform") == "conversation"
        or (kind == "surveys" and "ticket_id" in mapping)
        or kind == "orders"
    )
    time_column = "responded_at" if kind == "surveys" else "created_at"
    for needed, found in ((table.key, key_present), (time_column, time_column in mapping)):
        if not found:
            raise ColumnNotFound(raw.file_name, missing_column(needed, profile, raw.source_columns, guesses), needed)
    for repeated in raw.repeated_headers:
        used_as = next((name for name, parts in mapping.items() if repeated in parts), None)
        if used_as:
            raise ColumnNotFound(
                raw.file_name,
                f"two or more columns are named {repeated!r}, read as {used_as}; rename them in the file, "
                f"or choose the right one for {used_as} ({repeated}_2 is the second)",
                used_as,
            )
    return time_column


def _canonical(raw: RawExport, mapping: dict[str, tuple[str, ...]], profile: Profile, kind: str) -> pl.DataFrame:
    """The source columns renamed by the mapping, still text; unmapped ones kept as JSON ``attributes``.

    Also the profile's constants, each row's RAW hash and its order columns (``__by_N``).
    """
    source = raw.source_columns
    frame = normalise_nulls(raw.frame, source)
    extra = _unmapped(raw, mapping)
    # An answer's record is the same whichever ticket a row of it names (one review of several orders).
    same_record = [c for c in source if kind != "surveys" or c not in mapping.get("ticket_id", ())]
    attributes = pl.struct([pl.col(c) for c in extra]).struct.json_encode() if extra else pl.lit(None, dtype=pl.String)
    order_by = profile.order_columns(source)
    return frame.select(
        pl.col(LINE),
        *[_combined(parts).alias(name) for name, parts in mapping.items()],
        *[pl.lit(value).alias(name) for name, value in profile.constants.items() if name not in mapping],
        attributes.alias("attributes"),
        # Only compared between rows of one key within this file, so a hash of the record will do.
        pl.struct(same_record).hash().alias(RAW),
        *[pl.col(c).alias(f"__by_{i}") for i, c in enumerate(order_by)],
    )


@dataclass
class TypedColumns:
    """The canonical columns parsed to their types, with why a value could not be, column by column."""

    frame: pl.DataFrame
    formats: dict[str, str]  # the format each timestamp column was read in (and the survey scale)
    plans: dict[str, TimestampParse]
    reasons: list  # (reason per row, column name), in column order


def _typed_columns(
    canon: pl.DataFrame, table: Table, profile: Profile, zones: dict[str, str], plan: dict[str, TimestampParse]
) -> TypedColumns:
    """Each canonical column parsed by its declared type: ids, timestamps, booleans, numbers, statuses.

    ``zones`` holds the zone each column's naive times are read in (the file's, or the one its header names).
    """
    date_order = profile.options.get("date_order")
    typed = TypedColumns(pl.DataFrame(), {}, {}, [])
    columns = []
    for name in canon.columns:
        column = table.column(name) if name in table.column_names else None
        sql_type = column.sql_type if column else None
        if name in ("message_id", "in_reply_to", "ticket_id", "response_id", "complaint_id", "customer_id"):
            # Ids exported through a float column ("3.0") are the same id as "3".
            ids = canon[name]
            columns.append(ids.str.replace(r"^(\d+)\.0$", "${1}") if ids.str.ends_with(".0").any() else ids)
        elif sql_type == "TIMESTAMPTZ" or name.startswith("__by_"):
            parsed = parse_timestamps(canon[name], name, zones[name], date_order, plan=plan.get(name))
            typed.plans[name] = parsed
            if name.startswith("__by_") and parsed.format == "none" and canon[name].drop_nulls().len():
                columns.append(canon[name].str.zfill(12).alias(name))  # numeric order column
                continue
            typed.formats[name] = parsed.format
            columns.append(parsed.values)
            if not name.startswith("__by_"):
                typed.reasons.append((parsed.reasons, name))
        elif sql_type == "BOOLEAN" or name == "is_inbound":
            values, why = parse_booleans(canon[name], name)
            columns.append(values)
            typed.reasons.append((why, name))
        elif sql_type in ("INTEGER", "BIGINT"):
            values, why = parse_numbers(canon[name], name, pl.Int32 if sql_type == "INTEGER" else pl.Int64)
            columns.append(values)
            typed.reasons.append((why, name))
        elif name.endswith(("_minutes", "_hours")):
            values, why = parse_durations(canon[name], name, 60 if name.endswith("_hours") else 1)
            columns.append(values)
            typed.reasons.append((why, name))
        elif sql_type == "DOUBLE" and name != "score":
            values, why = parse_numbers(canon[name], name)
            columns.append(values)
            typed.reasons.append((why, name))
        elif name == "status":
            lowered = canon[name].str.to_lowercase()
            vocabulary = {**STATUS_VOCABULARY, **profile.status_map}
            columns.append(lowered.replace_strict(vocabulary, default=lowered).alias(name))
        else:
            columns.append(canon[name])
    typed.frame = pl.DataFrame(columns)
    return typed


def _derived_columns(typed: pl.DataFrame, profile: Profile) -> pl.DataFrame:
    """Columns the profile derives: the first of a list, and times from durations after creation."""
    for name in profile.options.get("first_of_list", []):
        if name in typed.columns:
            typed = typed.with_columns(pl.col(name).str.split(",").list.first().str.strip_chars().alias(name))

    for pseudo, target, unit in (
        ("first_response_minutes", "first_response_at", 1),
        ("first_response_hours", "first_response_at", 60),
        ("resolution_minutes", "resolved_at", 1),
        ("resolution_hours", "resolved_at", 60),
    ):
        if pseudo in typed.columns:
            derived = pl.col("created_at") + pl.duration(minutes=pl.col(pseudo) * unit)
            current = pl.col(target) if target in typed.columns else pl.lit(None, dtype=pl.Datetime("us", "UTC"))
            typed = typed.with_columns(pl.coalesce(current, derived).alias(target)).drop(pseudo)
    return typed


def _survey_answers(
    frame: pl.DataFrame, raw: RawExport, profile: Profile, typed: TypedColumns, guesses: tuple[Guess, ...]
) -> tuple[pl.DataFrame, str | None]:
    """Survey answers scored on their scales (reasons and the scale read go to ``typed``), with id and type.

    Returns the frame and the scale of the answers that name none.
    """
    if "response_id" not in frame.columns:
        frame = frame.with_columns(pl.col("ticket_id").alias("response_id"))
    if "score" not in frame.columns:
        raise ColumnNotFound(raw.file_name, missing_column("score", profile, raw.source_columns, guesses), "score")
    frame, score_reasons, column_scale = score_answers(frame, profile.options.get("scale"), raw.file_name)
    if column_scale:
        typed.formats["score"] = column_scale  # kept with the batch: which scale the answers were read on
    typed.reasons.extend(score_reasons)
    if "survey_type" not in frame.columns:
        frame = frame.with_columns(
            pl.when(pl.col("scale") == "0-10").then(pl.lit("nps")).otherwise(pl.lit("csat")).alias("survey_type")
        )
    else:
        frame = frame.with_columns(pl.col("survey_type").str.to_lowercase().fill_null("csat"))
    return frame, column_scale


def _row_checks(
    typed: pl.DataFrame, raw: RawExport, table: Table, key_name: str, time_column: str, now: datetime
) -> list:
    """The checks of whole rows, as (reason or null, column): key and time present, dates plausible."""
    checks = [
        (pl.when(pl.col(key_name).is_null()).then(pl.lit(f"missing {key_name}")), key_name),
        (
            pl.when(pl.col(time_column).is_null() & pl.lit(True)).then(pl.lit(f"missing {time_column}")),
            time_column,
        ),
        (
            pl.when(pl.col(time_column) > pl.lit(now + FUTURE_TOLERANCE)).then(
                pl.format(
                    "{} '{}' is in the future",
                    pl.lit(time_column),
                    pl.col(time_column).dt.strftime("%Y-%m-%d %H:%M"),
                )
            ),
            time_column,
        ),
    ]
    try:  # a date before the plausible bound is a placeholder (0001-01-01, 1900-01-01), in any timestamp column
        checks += early_dates(typed.select(c for c in typed.columns if c in table.column_names))
    except ValueError as exc:
        raise IngestError(raw.file_name, str(exc)) from exc
    if raw.replaced_bytes:
        text_columns = [c for c, dtype in typed.schema.items() if dtype == pl.String]
        garbled = pl.any_horizontal(pl.col(c).str.contains(REPLACEMENT, literal=True) for c in text_columns)
        encoding = raw.encoding.upper().removesuffix("-SIG")
        checks.insert(0, (pl.when(garbled).then(pl.lit(f"bytes that are not valid {encoding} in the record")), None))
    most_days = int(limits.DURATION_DAYS.value())  # read for every kind: a bad setting is refused for every kind
    if time_column == "created_at":
        checks += _duration_checks(typed, most_days)
    return checks


def _duration_checks(typed: pl.DataFrame, most_days: int) -> list:
    """Later times of a ticket before its creation, or more than ``most_days`` after it (a wrong year)."""
    checks = []
    for later in ("first_response_at", "resolved_at", "closed_at"):
        if later in typed.columns:
            checks.append(
                (
                    pl.when(pl.col(later) < pl.col("created_at")).then(pl.lit(f"{later} before created_at")),
                    later,
                )
            )
            days = (pl.col(later) - pl.col("created_at")).dt.total_days()
            checks.append(
                (
                    pl.when(days > most_days).then(
                        pl.format(
                            "{} {} days after created_at (more than {}: check the dates)",
                            pl.lit(later),
                            days,
                            pl.lit(most_days),
                        )
                    ),
                    later,
                )
            )
    return checks


def _set_aside(frame: pl.DataFrame, raw: RawExport) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(rows without a reason, rejected rows with their source records), malformed records rejected too."""
    bad = frame.filter(pl.col(REASON).is_not_null())
    rejected = bad.select(pl.col(LINE), pl.col(REASON), pl.col(REASON_COLUMN)).join(
        _raw_records(raw, raw.source_columns, bad[LINE]), on=LINE, how="left"
    )
    good = frame.filter(pl.col(REASON).is_null()).drop(REASON, REASON_COLUMN)
    if raw.malformed.height:
        malformed = raw.malformed.select(
            LINE, pl.col("reason").alias(REASON), pl.lit(None, dtype=pl.String).alias(REASON_COLUMN), "raw_record"
        )
        rejected = pl.concat([rejected, malformed])
    return good, rejected


def _keyed_rows(
    good: pl.DataFrame,
    rejected: pl.DataFrame,
    raw: RawExport,
    table: Table,
    conflicts: pl.DataFrame | None,
    first_tickets: pl.DataFrame | None = None,
) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame, pl.DataFrame | None]:
    """(rows with their KEY and ORDER, one record source row per key, rejected rows, versions).

    Without an order column, a key's rows that differ are all rejected (see ``_split_conflicts``),
    and ``versions`` holds each valid row's LINE, KEY and RAW for a first pass over a large file.
    """
    order_columns = [c for c in good.columns if c.startswith("__by_")]
    good = good.with_columns(pl.col(table.key).alias(KEY))
    versions = None
    if not order_columns:
        # An answer's ticket travels with it: a large file's first pass finds each answer's first line's.
        linked = ["ticket_id"] if table.kind == "surveys" and "ticket_id" in good.columns else []
        versions = good.select(LINE, KEY, RAW, *linked)
        if conflicts is None and good[KEY].is_duplicated().any():
            conflicts = conflicting_keys(versions)
        if conflicts is not None:
            good, conflicting = _split_conflicts(good, conflicts, table.key)
            if conflicting.height:
                records = _raw_records(raw, raw.source_columns, conflicting[LINE])
                rejected = pl.concat([rejected, conflicting.join(records, on=LINE, how="left")]).sort(LINE)
    if good[KEY].is_duplicated().any():
        good = good.with_columns(pl.struct([*order_columns, LINE]).rank("ordinal").over(KEY).alias(ORDER))
        by_key = good.sort(ORDER).group_by(KEY, maintain_order=True)
        # With an order, the latest state of each key wins (an event log). Without one, a key's rows
        # left are the same record (the others conflict): the first line names its ticket, where
        # one survey answer covers several tickets.
        record_source = by_key.last() if order_columns else by_key.first()
    else:
        good = good.with_columns(pl.lit(1, dtype=pl.UInt32).alias(ORDER))
        record_source = good
    if first_tickets is not None and first_tickets.height and not order_columns:
        # The answer's first line may be in an earlier part of the file: its ticket, not this part's.
        firsts = first_tickets.rename({"ticket_id": "__first_ticket"})
        record_source = (
            record_source.join(firsts, on=KEY, how="left", maintain_order="left")
            .with_columns(pl.coalesce("__first_ticket", "ticket_id").alias("ticket_id"))
            .drop("__first_ticket")
        )
    return good.select(LINE, KEY, ORDER, RAW), record_source, rejected, versions


def _canonical_records(record_source: pl.DataFrame, table: Table) -> pl.DataFrame:
    """One record per key in the table's columns and types (a column the file lacks is null), by key."""
    records = record_source.select(
        [
            pl.col(c) if c in record_source.columns else pl.lit(None).cast(_polars_type(table, c)).alias(c)
            for c in table.column_names
        ]
        + [pl.col("attributes")]
    ).with_columns(_cast_exprs(table))
    return records.sort(table.key)


def conflicting_keys(versions: pl.DataFrame) -> pl.DataFrame:
    """Keys whose rows in one file differ (``KEY``, ``LINES``) from their rows' ``LINE``, ``KEY``, ``RAW``.

    Rows that repeat one another exactly are no conflict: they count as duplicates.
    """
    return (
        versions.group_by(KEY)
        .agg(pl.col(RAW).n_unique().alias("versions"), pl.col(LINE).sort().cast(pl.String).str.join(", ").alias(LINES))
        .filter(pl.col("versions") > 1)
        .drop("versions")
    )


def _split_conflicts(good: pl.DataFrame, conflicts: pl.DataFrame, key: str) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Rows of the keys in ``conflicts`` set apart, each with its reason naming all the key's lines.

    Without an order (an event log's update time) nothing says which row is right, so none is loaded.
    """
    conflicting = good.join(conflicts, on=KEY, how="inner").select(
        LINE,
        pl.format("{} '{}' is on lines {} with different values", pl.lit(key), pl.col(KEY), pl.col(LINES)).alias(
            REASON
        ),
        pl.lit(key).alias(REASON_COLUMN),
    )
    return good.join(conflicts, on=KEY, how="anti"), conflicting


def _without_personal_data(raw: RawExport) -> RawExport:
    """The export with personal data hashed or removed, when the organisation configured that."""
    try:
        salt = hashing_salt()
    except ValueError as exc:
        raise IngestError(raw.file_name, str(exc)) from exc
    if salt is None:
        return raw
    return replace(
        raw,
        frame=pseudonymise(raw.frame, raw.source_columns, salt),
        malformed=pseudonymise_records(raw.malformed, ["raw_record"], salt),
    )


def _raw_records(raw: RawExport, source: list[str], lines: pl.Series) -> pl.DataFrame:
    """Some lines' source records as JSON, for their rejected rows (encoding every record costs more)."""
    wanted = raw.frame.filter(pl.col(LINE).is_in(lines.implode()))
    return wanted.select(LINE, pl.struct(source).struct.json_encode().alias("raw_record"))


def _order_keys(typed: pl.DataFrame, raw: RawExport, profile: Profile) -> tuple[pl.DataFrame, tuple]:
    """Order counts are keyed by day and segment; a count must be present and not negative."""
    if "orders" not in typed.columns:
        raise ColumnNotFound(raw.file_name, missing_column("orders", profile, raw.source_columns, ()), "orders")
    segment = [pl.col(c).fill_null("") for c in ("channel", "product", "region", "team") if c in typed.columns]
    day = pl.col("created_at").dt.truncate("1d")
    keyed = typed.with_columns(
        day.alias("created_at"),
        pl.concat_str([day.dt.strftime("%Y-%m-%d"), *segment], separator="|").alias("order_count_id"),
    )
    reason = (
        pl.when(pl.col("orders").is_null())
        .then(pl.lit("missing orders"))
        .when(pl.col("orders") < 0)
        .then(pl.format("orders '{}' is negative", pl.col("orders")))
    )
    return keyed, (reason, "orders")


_SQL_TO_POLARS = {
    "VARCHAR": pl.String,
    "TIMESTAMPTZ": pl.Datetime("us", "UTC"),
    "BOOLEAN": pl.Boolean,
    "INTEGER": pl.Int32,
    "BIGINT": pl.Int64,
    "DOUBLE": pl.Float64,
}


def _polars_type(table: Table, column: str) -> pl.DataType:
    return _SQL_TO_POLARS[table.column(column).sql_type]


def _cast_exprs(table: Table) -> list[pl.Expr]:
    return [pl.col(c.name).cast(_SQL_TO_POLARS[c.sql_type]) for c in table.columns]
