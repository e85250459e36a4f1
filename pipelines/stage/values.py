"""Value parsers for staged columns: frame in, frame out, decided per column, never row by row.

Each parser returns the typed series plus a reason series (null where the value was fine),
so the staging step can turn every unparseable value into a rejected row that says why.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import polars as pl

from pipelines.common.plausible import EARLIEST_ENV, earliest_date

NULL_TOKENS = (
    "",
    "?",
    "n/a",
    "na",
    "#n/a",
    "null",
    "none",
    "nil",
    "nan",
    "-",
    "--",
    "—",
    "无",
    "空",
    "(blank)",
)

TRUE_TOKENS = ("true", "t", "yes", "y", "1", "是", "对", "真", "✓")
FALSE_TOKENS = ("false", "f", "no", "n", "0", "否", "不是", "假", "✗")

_DATE_PARTS = {
    "YMD": ["%Y-%m-%d", "%Y/%m/%d", "%Y.%m.%d", "%Y年%m月%d日"],
    "DMY": ["%d/%m/%Y", "%d-%m-%Y", "%d.%m.%Y", "%d/%m/%y", "%d-%m-%y", "%d.%m.%y"],
    "MDY": ["%m/%d/%Y", "%m-%d-%Y", "%m/%d/%y", "%m-%d-%y"],
    # Month names make the order unambiguous, whichever side the day is on.
    "NAMED": [
        "%d-%b-%y",
        "%d-%b-%Y",
        "%d %b %Y",
        "%d %B %Y",
        "%b %d, %Y",
        "%B %d, %Y",
        "%b %d %Y",
        "%d-%b-%Y",
        "%d/%b/%y",  # Jira: 05/Mar/24 5:42 PM
        "%d/%b/%Y",
    ],
}
_TIME_PARTS = [
    "",
    " %H:%M",
    " %H:%M:%S",  # the same as with %.f where there are no fractions, and parsed several times faster
    " %H:%M:%S%.f",
    "T%H:%M",
    "T%H:%M:%S",
    "T%H:%M:%S%.f",
    " %I:%M %p",
    " %I:%M:%S %p",
    " %I:%M%p",
    " %H时%M分",
    " %H时%M分%S秒",
]
_ZONE_PARTS = ["", "%z", " %z"]
# Whole-string formats that do not split into date + time (e-mail and Twitter style).
_SPECIAL_FORMATS = [
    ("NAMED", "%a %b %d %H:%M:%S %z %Y"),
    ("NAMED", "%a, %d %b %Y %H:%M:%S %z"),
    ("NAMED", "%a %b %d %H:%M:%S %Y"),
]

EXCEL_EPOCH = pl.datetime(1899, 12, 30)


def _candidate_formats() -> list[tuple[str, str]]:
    formats = list(_SPECIAL_FORMATS)
    for order, dates in _DATE_PARTS.items():
        for date_fmt, time_fmt, zone_fmt in itertools.product(dates, _TIME_PARTS, _ZONE_PARTS):
            if zone_fmt and not time_fmt:
                continue
            formats.append((order, date_fmt + time_fmt + zone_fmt))
    return formats


CANDIDATE_FORMATS = _candidate_formats()


def normalise_nulls(frame: pl.DataFrame, columns: list[str]) -> pl.DataFrame:
    """Strip whitespace and turn the usual placeholders for 'no value' (in any case: N/A, Null) into nulls."""
    stripped = frame.with_columns(pl.col(c).str.strip_chars() for c in columns)
    longest = max(len(t) for t in NULL_TOKENS)
    # A placeholder is short: lower-case only the distinct short values, not every value of the column.
    placeholders = {}
    for c in columns:
        values = stripped.get_column(c)
        short = values.filter(values.str.len_chars() <= longest).unique()
        placeholders[c] = short.filter(short.str.to_lowercase().is_in(NULL_TOKENS))
    return stripped.with_columns(
        pl.when(pl.col(c).is_in(placeholders[c].implode())).then(None).otherwise(pl.col(c)).alias(c)
        for c in columns
        if placeholders[c].len()
    )


@dataclass(frozen=True)
class TimestampParse:
    values: pl.Series  # Datetime("us", "UTC")
    reasons: pl.Series  # String, null where fine
    format: str  # the format chosen for the column (or "excel serial" / "unix seconds" / "none")
    date_order: str  # YMD, DMY, MDY, NAMED or ""
    # Every format used, best first, and the date order ruled out: the plan for later parts of a file.
    formats: tuple[str, ...] = ()
    excluded: str = ""


def _prepare_timestamp_text(text: pl.Series) -> pl.Series:
    # A trailing Z means UTC; chrono's %z wants an explicit offset. Checked first: most files need neither fix.
    if text.str.ends_with("Z").any():
        text = text.str.replace(r"(\d)Z$", "${1}+00:00")
    if text.str.contains(r"\s\s|[\t\n\r]").any():
        text = text.str.replace_all(r"\s+", " ")
    return text


def _parse_with(text: pl.Series, fmt: str, tz: str) -> pl.Series:
    parsed = text.str.to_datetime(fmt, strict=False, time_unit="us")
    if parsed.dtype == pl.Datetime("us", "UTC"):
        return parsed
    if "%z" in fmt:
        return parsed.dt.convert_time_zone("UTC")
    local = parsed.dt.replace_time_zone(tz, ambiguous="earliest", non_existent="null")
    skipped = parsed.is_not_null() & local.is_null()
    if skipped.any():
        # A time the clock skipped when it sprang forward (2:30 on a night it went from 2:00 to 3:00)
        # was written on the clock before the change: it is the hour after on the new one.
        later = (parsed + timedelta(hours=1)).dt.replace_time_zone(tz, ambiguous="earliest", non_existent="null")
        local = pl.select(pl.coalesce(pl.lit(local), pl.lit(later))).to_series()
    return local.dt.convert_time_zone("UTC")


def _parse_in_turn(prepared: pl.Series, formats: list[str], tz: str) -> pl.Series:
    """The first format that parses each value, as a coalesce would, but each later format only sees what is left."""
    parsed = _parse_with(prepared, formats[0], tz)
    for fmt in formats[1:]:
        missing = prepared.is_not_null() & parsed.is_null()
        if not missing.any():
            break
        where = missing.arg_true()
        parsed = parsed.scatter(where, _parse_with(prepared.gather(where), fmt, tz))
    return parsed


def _excel_serials(text: pl.Series, tz: str) -> pl.Series | None:
    numbers = text.cast(pl.Float64, strict=False)
    non_null = text.drop_nulls()
    if non_null.len() == 0 or numbers.drop_nulls().len() != non_null.len():
        return None
    # Serial days 1 (1900-01-01) to 100000 (year 2173); anything else is not a date.
    if numbers.min() < 1 or numbers.max() > 100_000:
        return None
    micros = (numbers * 86_400_000_000).round().cast(pl.Int64)
    naive = pl.select(EXCEL_EPOCH + pl.duration(microseconds=pl.lit(micros))).to_series()
    return naive.dt.replace_time_zone(tz, ambiguous="earliest", non_existent="null").dt.convert_time_zone("UTC")


# Seconds (10 digits) or milliseconds (13) since 1970 in UTC, from 2000 to 2100: a Unix time.
UNIX_SPANS = {"unix seconds": 1_000_000, "unix milliseconds": 1_000}
UNIX_RANGE = (946_684_800, 4_102_444_800)  # 2000-01-01 and 2100-01-01, in seconds


def _unix_times(text: pl.Series, unit: str | None = None) -> tuple[pl.Series, str] | None:
    """Whole numbers of seconds (or milliseconds) since 1970, all between 2000 and 2100, as UTC times; else None.

    A Unix time names its moment in UTC, whatever zone the file's other times are in.
    """
    present = text.drop_nulls()
    if present.len() == 0 or not present.str.contains(r"^\d{10}$|^\d{13}$").all():
        return None
    numbers = text.cast(pl.Int64, strict=False)
    found = unit or ("unix milliseconds" if present.str.len_chars().min() == 13 else "unix seconds")
    per = UNIX_SPANS[found]
    seconds = numbers // (1_000_000 // per)
    if seconds.min() < UNIX_RANGE[0] or seconds.max() > UNIX_RANGE[1]:
        return None
    return (numbers * per).cast(pl.Datetime("us", "UTC")), found


def _hits(values: pl.Series, formats: list[str]) -> list[int]:
    """How many values each format parses, all formats in one parallel pass."""
    counts = pl.DataFrame({"v": values}).select(
        pl.col("v").str.to_datetime(fmt, strict=False).is_not_null().sum().alias(str(i))
        for i, fmt in enumerate(formats)
    )
    return list(counts.row(0))


def _no_reasons(column: str, length: int) -> pl.Series:
    return pl.repeat(None, length, dtype=pl.String, eager=True).alias(column)


def _unparseable(text: pl.Series, missing: pl.Series, column: str) -> pl.Series:
    if not missing.any():
        return _no_reasons(column, text.len())
    return pl.select(
        pl.when(pl.lit(missing)).then(pl.format("unparseable date '{}' in {}", pl.lit(text), pl.lit(column)))
    ).to_series()


def parse_timestamps(
    text: pl.Series,
    column: str,
    tz: str = "UTC",
    date_order: str | None = None,
    sample_size: int = 2000,
    plan: TimestampParse | None = None,
) -> TimestampParse:
    """Parse a column of date/time strings into UTC timestamps.

    The format is decided for the whole column from its values: every candidate format is
    scored on a sample of distinct values, the best one wins, and day-first versus
    month-first is settled by which order parses more values (ties go to ``date_order``,
    then day-first). Values with an offset keep it; naive values are read in ``tz``.
    With ``plan`` (the parse of an earlier part of the same file) the formats it chose are
    used again, and only values none of them parses are matched against the candidates.
    """
    prepared = _prepare_timestamp_text(text)
    empty_reasons = _no_reasons(column, text.len())
    if plan is not None and plan.format == "excel serial":
        serials = _excel_serials(prepared, tz)
        if serials is not None:
            return TimestampParse(serials.alias(column), empty_reasons, "excel serial", "", plan.formats)
    if plan is not None and plan.format in UNIX_SPANS:
        unix = _unix_times(prepared, plan.format)
        if unix is not None:
            return TimestampParse(unix[0].alias(column), empty_reasons, unix[1], "", plan.formats)
    if plan is not None and plan.formats and plan.format != "excel serial" and plan.format not in UNIX_SPANS:
        usable = list(plan.formats)
        excluded = plan.excluded
        chosen_order, first_format = plan.date_order, plan.format
    else:
        distinct = prepared.drop_nulls().unique()
        if distinct.len() == 0:
            return TimestampParse(
                pl.Series(column, [None] * text.len(), dtype=pl.Datetime("us", "UTC")), empty_reasons, "none", ""
            )
        serials = _excel_serials(prepared, tz)
        if serials is not None:
            return TimestampParse(serials.alias(column), empty_reasons, "excel serial", "", ("excel serial",))
        unix = _unix_times(prepared)
        if unix is not None:
            return TimestampParse(unix[0].alias(column), empty_reasons, unix[1], "", (unix[1],))
        sample = distinct.sample(min(sample_size, distinct.len()), seed=0) if distinct.len() > sample_size else distinct
        hits_per_format = _hits(sample, [fmt for _, fmt in CANDIDATE_FORMATS])
        scored = [
            (hits, order, fmt) for (order, fmt), hits in zip(CANDIDATE_FORMATS, hits_per_format, strict=True) if hits
        ]
        if not scored:
            return TimestampParse(
                pl.Series(column, [None] * text.len(), dtype=pl.Datetime("us", "UTC")),
                _unparseable(text, prepared.is_not_null(), column).alias(column),
                "none",
                "",
            )
        usable, chosen_order, excluded = _ranked_formats(scored, date_order)
        first_format = usable[0]

    parsed = _parse_in_turn(prepared, usable, tz)
    missing = prepared.is_not_null() & parsed.is_null()
    if missing.any():
        parsed, missing = _parse_leftovers(prepared, parsed, missing, usable, excluded, tz)
    return TimestampParse(
        parsed.alias(column),
        _unparseable(text, missing, column).alias(column),
        first_format,
        chosen_order,
        tuple(usable),
        excluded,
    )


def _ranked_formats(scored: list[tuple[int, str, str]], date_order: str | None) -> tuple[list[str], str, str]:
    """(formats best first, the column's date order, the order ruled out) from each format's (hits, order, format).

    Day-first versus month-first is settled by which order parses more values (ties go to
    ``date_order``, then day-first); the formats of the other order are not used.
    """
    hits_by_order: dict[str, int] = {}
    for hits, order, _ in scored:
        hits_by_order[order] = max(hits_by_order.get(order, 0), hits)
    dmy, mdy = hits_by_order.get("DMY", 0), hits_by_order.get("MDY", 0)
    preferred = date_order or "DMY"
    day_month = "DMY" if dmy > mdy or (dmy == mdy and preferred == "DMY") else "MDY"
    excluded = "MDY" if day_month == "DMY" else "DMY"
    # Most hits first; on a tie the format without fractions (far quicker to parse), then the longest.
    ranked = sorted((s for s in scored if s[1] != excluded), key=lambda s: (-s[0], "%.f" in s[2], -len(s[2])))
    best_order = ranked[0][1]
    return [fmt for _, _, fmt in ranked], day_month if best_order in ("DMY", "MDY") else best_order, excluded


def _parse_leftovers(
    prepared: pl.Series, parsed: pl.Series, missing: pl.Series, usable: list[str], excluded: str, tz: str
) -> tuple[pl.Series, pl.Series]:
    """Rare formats the sample missed: every compatible candidate tried on the values still unparsed.

    Returns the parsed values and which are still missing.
    """
    leftovers = prepared.filter(missing).unique()
    compatible = [fmt for order, fmt in CANDIDATE_FORMATS if order != excluded and fmt not in usable]
    extra = [fmt for fmt, hits in zip(compatible, _hits(leftovers, compatible), strict=True) if hits]
    if extra:
        where = missing.arg_true()
        parsed = parsed.scatter(where, _parse_in_turn(prepared.gather(where), extra, tz))
        missing = prepared.is_not_null() & parsed.is_null()
    return parsed, missing


def parse_booleans(text: pl.Series, column: str) -> tuple[pl.Series, pl.Series]:
    """TRUE/FALSE, yes/no, 1/0 and 是/否 into booleans; anything else is a reason."""
    lowered = text.str.strip_chars().str.to_lowercase()
    values = pl.select(
        pl.when(lowered.is_in(TRUE_TOKENS))
        .then(True)
        .when(lowered.is_in(FALSE_TOKENS))
        .then(False)
        .otherwise(None)
        .cast(pl.Boolean)
    ).to_series()
    reasons = pl.select(
        pl.when(pl.lit(text).is_not_null() & pl.lit(values).is_null()).then(
            pl.format("unrecognised yes/no value '{}' in {}", pl.lit(text), pl.lit(column))
        )
    ).to_series()
    return values.alias(column), reasons.alias(column)


def parse_numbers(text: pl.Series, column: str, dtype: pl.DataType = pl.Float64) -> tuple[pl.Series, pl.Series]:
    """Numbers with an optional thousands separator; a non-number is a reason, not a null."""
    cleaned = text.str.replace_all(r"[,\s]", "").str.replace(r"\.0+$", "")
    numbers = cleaned.cast(pl.Float64, strict=False)
    if dtype.is_integer():
        whole = numbers.is_not_null() & (numbers.round() == numbers)
        numbers = pl.select(pl.when(pl.lit(whole)).then(pl.lit(numbers))).to_series()
    reasons = pl.select(
        pl.when(pl.lit(text).is_not_null() & pl.lit(numbers).is_null()).then(
            pl.format(
                "{} '{}' is not a {}",
                pl.lit(column),
                pl.lit(text),
                pl.lit("whole number" if dtype.is_integer() else "number"),
            )
        )
    ).to_series()
    return numbers.cast(dtype).alias(column), reasons.alias(column)


# A duration as a clock reading: hours (any number of them), minutes and optional seconds.
CLOCK_DURATION = r"^(\d+):([0-5]\d)(?::([0-5]\d(?:\.\d+)?))?$"


def parse_durations(text: pl.Series, column: str, unit_minutes: float) -> tuple[pl.Series, pl.Series]:
    """Durations in the column's unit (``unit_minutes`` minutes each): numbers, or clock readings like '02:13:44'.

    Helpdesks write a first response or resolution time either as a number of its unit or as
    hours:minutes[:seconds] (Freshdesk's "First response time (in hrs)", HubSpot's "Time to
    close (HH:mm:ss)"); a clock reading means the same span whatever unit the header names.
    """
    numbers, reasons = parse_numbers(text, column)
    clock = text.str.strip_chars().str.extract_groups(CLOCK_DURATION)
    hours, minutes, seconds = (clock.struct.field(str(i)).cast(pl.Float64) for i in (1, 2, 3))
    spans = pl.select((pl.lit(hours) * 60 + pl.lit(minutes) + pl.lit(seconds).fill_null(0) / 60) / unit_minutes)
    read = pl.select(pl.coalesce(pl.lit(numbers), spans.to_series())).to_series()
    return read.alias(column), pl.select(pl.when(pl.lit(read).is_null()).then(pl.lit(reasons))).to_series().alias(
        column
    )


def early_dates(frame: pl.DataFrame) -> list[tuple[pl.Expr, str]]:
    """For each timestamp column of ``frame``, the reason its value is older than the earliest plausible date.

    Each reason is null where the value is not; ValueError when CSAT_RADAR_EARLIEST_DATE is not a date.
    """
    earliest = earliest_date()
    bound = pl.lit(datetime.combine(earliest, datetime.min.time(), tzinfo=UTC), dtype=pl.Datetime("us", "UTC"))
    return [
        (
            pl.when(pl.col(c) < bound).then(
                pl.format(
                    "{} {} is before {} (the earliest plausible date; set {} to change it)",
                    pl.lit(c),
                    pl.col(c).dt.strftime("%Y-%m-%d"),
                    pl.lit(earliest.isoformat()),
                    pl.lit(EARLIEST_ENV),
                )
            ),
            c,
        )
        for c, dtype in frame.schema.items()
        if isinstance(dtype, pl.Datetime)
    ]
