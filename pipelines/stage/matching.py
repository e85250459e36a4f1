"""Columns found the way a person finds them: by usual names, and where names do not decide it, by values.

Grain: one ``Guess`` per canonical column a file's profile left unmapped and a column of the
file may stand for, each with its reason and a confidence. Names are looked up in the aliases
of the language profiles (``SYNONYM_PROFILES``: the usual names across tools, in English and
Chinese), folded by ``header_key``. Values decide the columns a load cannot do without: a column
whose values are all present and unique is an id, timestamp columns ordered like creation then
closing are opened and closed, whole numbers 1-5 or 0-10 are a score. Only confident guesses
are used; the others are said when a required column is missing.
"""

from __future__ import annotations

import dataclasses
import re
import unicodedata
from dataclasses import dataclass

import polars as pl

from pipelines.read.raw import RawExport
from pipelines.stage.profiles import Profile, builtin_profiles
from pipelines.stage.values import normalise_nulls, parse_timestamps
from pipelines.warehouse.schema import TABLES

SYNONYM_PROFILES = ("generic", "chinese")
CONFIDENT = 0.8
# Uniqueness in a handful of rows says little: fewer rows than this give no guess by values.
MIN_ROWS = 5
# Rows looked at to tell timestamps and scores (uniqueness is judged on every row).
SAMPLE_ROWS = 2000
ID_WORDS = re.compile(r"(^|[^a-z])(id|key|no|nr|num|number|ref|reference|code)([^a-z]|$)|#|编号|单号|号$", re.I)
SCALES = ((1, 5), (0, 10))
# Words that name a column of times, whose plain numbers may then be Unix times.
TIME_WORDS = frozenset(("time", "date", "timestamp", "datetime", "unix", "created", "updated", "at", "when"))
# Columns that name a segment: a header ending in one of their usual names, qualified by words
# before it ("Responsible Agency", "Open Data Channel Type"), is read as that column.
SEGMENT_COLUMNS = ("channel", "team", "agent", "region", "product", "category", "priority")
# Usual names too vague to stand for a column at the end of a longer header ("Location Type",
# "Resolution status", "Park Facility Name" say nothing of a category, a status, an agent).
VAGUE_WORDS = frozenset(
    ("type", "name", "state", "source", "via", "group", "area", "location", "service", "reason", "issue", "topic")
)


@dataclass(frozen=True)
class Guess:
    """One canonical column read from one of the file's columns, and why."""

    column: str  # the canonical column
    source: str  # the file's header
    reason: str
    confidence: float  # 0 to 1; CONFIDENT or more is used without asking

    @property
    def confident(self) -> bool:
        return self.confidence >= CONFIDENT


def guess_columns(
    raw: RawExport, kind: str, mapping: dict[str, tuple[str, ...]], profile: Profile | None = None
) -> tuple[Guess, ...]:
    """Guesses for the canonical columns ``mapping`` lacks, best first per column, from the file's unused columns.

    A tool's own profile (not a language one) reads what its authors listed: only the columns a
    load cannot do without are guessed for it.
    """
    used = {h for parts in mapping.values() for h in parts}
    guesses = list(_by_name(raw.source_columns, kind, mapping, used))
    guesses += _by_qualified_name(raw.source_columns, kind, mapping, used | {g.source for g in guesses}, guesses)
    named = {g.column: g.source for g in guesses if g.confident}
    known = {**{c: parts[0] for c, parts in mapping.items() if len(parts) == 1}, **named}
    free = [h for h in raw.source_columns if h not in used and h not in named.values()]
    if profile is not None and profile.name not in SYNONYM_PROFILES:
        wanted = set(required_columns(kind))
        guesses = [g for g in guesses if g.column in wanted]
    elif kind == "tickets" and "resolved_at" not in known:
        wanted = {*required_columns(kind), "closed_at"}  # a ticket's closing, when nothing says when it ended
    else:
        wanted = set(required_columns(kind))
    missing = wanted - set(known)
    if kind == "surveys" and {"response_id", "ticket_id"} & set(known):
        missing -= {"response_id", "ticket_id"}  # an answer's id may be its ticket's
    if missing:  # a load that has its id, time and score (and a ticket its closing) reads no values
        guesses += [g for g in _by_values(raw, kind, known, free) if g.column in wanted]
    return tuple(guesses)


def required_columns(kind: str) -> tuple[str, ...]:
    """The columns a load of ``kind`` cannot do without (a survey answer's id may be its ticket's)."""
    if kind == "surveys":
        return ("response_id", "ticket_id", "responded_at", "score")
    if kind == "orders":
        return ("created_at", "orders")
    return (TABLES[kind].key, "created_at")


def with_guesses(profile: Profile, guesses: tuple[Guess, ...]) -> Profile:
    """The profile reading each confident guess's column first: the next parts of a file map as its first did."""
    chosen = {g.column: g.source for g in guesses if g.confident}
    if not chosen:
        return profile
    columns = dict(profile.columns)
    for column, source in chosen.items():
        columns[column] = ((source,), *columns.get(column, ()))
    return dataclasses.replace(profile, columns=columns)


def apply_guesses(mapping: dict[str, tuple[str, ...]], guesses: tuple[Guess, ...]) -> dict[str, tuple[str, ...]]:
    """``mapping`` with the first confident guess for each column it lacks, no file column used twice."""
    result = dict(mapping)
    used = {h for parts in result.values() for h in parts}
    for guess in guesses:
        if guess.confident and guess.column not in result and guess.source not in used:
            result[guess.column] = (guess.source,)
            used.add(guess.source)
    return result


def missing_column(column: str, profile: Profile, headers: list[str], guesses: tuple[Guess, ...]) -> str:
    """Why a required column is missing, in one line: the file's own columns, and any guess too unsure to use."""
    unsure = [g for g in guesses if g.column == column and not g.confident]
    hint = f"; perhaps {unsure[0].source!r} ({unsure[0].reason})" if unsure else ""
    return (
        f"no column for {column} (profile {profile.name}); the file's columns are: "
        f"{', '.join(repr(h) for h in headers)}{hint}"
    )


def _by_name(headers: list[str], kind: str, mapping: dict, used: set[str]) -> list[Guess]:
    """The file's columns whose names are usual names (any case or separator) of columns still unmapped."""
    free = [h for h in headers if h not in used]
    guesses, taken = [], set()
    for name in SYNONYM_PROFILES:
        profile = builtin_profiles()[name]
        if kind not in profile.kinds:
            continue
        for column, parts in profile.resolve(kind, free).items():
            if column in mapping or column in {g.column for g in guesses} or len(parts) != 1 or parts[0] in taken:
                continue
            taken.add(parts[0])
            reason = f"{parts[0]!r} is a usual name for {column}"
            guesses.append(Guess(column, parts[0], reason, 0.9))
    return guesses


def header_words(header: str) -> tuple[str, ...]:
    """A header's words as a person reads them: 'Open Data Channel Type' and 'openDataChannelType' alike."""
    spaced = re.sub(r"(?<=[a-z])(?=[A-Z])", " ", unicodedata.normalize("NFKC", header))
    return tuple(re.findall(r"[^\W_]+", spaced.casefold()))


def named_zone(parts: tuple[str, ...]) -> str | None:
    """The zone a column's header names for its times ('Review Created (UTC)', 'opened_at_gmt'), or None.

    A person reads such a column in that zone whatever zone the file's other times are in.
    """
    return "UTC" if {"utc", "gmt"}.intersection(w for part in parts for w in header_words(part)) else None


def _by_qualified_name(headers: list[str], kind: str, mapping: dict, used: set[str], named: list[Guess]) -> list[Guess]:
    """Segment columns still unmapped, from headers that end in one of their usual names after other words."""
    profile = builtin_profiles()[SYNONYM_PROFILES[0]]
    if kind not in profile.kinds:
        return []
    taken = set(mapping) | {g.column for g in named}
    free = [(h, header_words(h)) for h in headers if h not in used]
    guesses = []
    for column in SEGMENT_COLUMNS:
        aliases = profile.columns_for(kind).get(column, ())
        if column in taken or column not in TABLES[kind].column_names:
            continue
        for alias in (header_words(a[0]) for a in aliases if len(a) == 1):
            if not alias or (len(alias) == 1 and alias[0] in VAGUE_WORDS):
                continue
            found = next((h for h, words in free if len(words) > len(alias) and words[-len(alias) :] == alias), None)
            if found:
                reason = f"{found!r} ends in {' '.join(alias)!r}, a usual name for {column}"
                guesses.append(Guess(column, found, reason, CONFIDENT))
                free = [(h, w) for h, w in free if h != found]
                break
    return guesses


def _by_values(raw: RawExport, kind: str, known: dict[str, str], free: list[str]) -> list[Guess]:
    """Guesses for the required columns still missing (and a ticket's closing), from the free columns' values."""
    if raw.frame.height < MIN_ROWS or not free:
        return []
    frame = normalise_nulls(raw.frame.select(free), free)
    sample = frame.head(SAMPLE_ROWS)
    stamps = _timestamp_columns(sample, free)
    guesses: list[Guess] = []
    key = TABLES[kind].key
    if key not in known and kind != "orders" and not (kind == "surveys" and "ticket_id" in known):
        guesses += _id_guesses(frame, key, [h for h in free if h not in stamps])
    time_column = "responded_at" if kind == "surveys" else "created_at"
    if time_column not in known:
        guesses += _opening_guesses(stamps, time_column)
    opened = known.get(time_column) or next(
        (g.source for g in guesses if g.column == time_column and g.confident), None
    )
    if kind == "tickets" and opened and not {"closed_at", "resolved_at"} & set(known):
        opened_at = stamps.get(opened) if opened in stamps else _stamps(raw.frame.head(SAMPLE_ROWS), opened)
        if opened_at is not None:
            guesses += _closing_guesses(opened, opened_at, {h: s for h, s in stamps.items() if h != opened})
    if kind == "surveys" and "score" not in known:
        taken = {g.source for g in guesses}
        guesses += _score_guesses(sample, [h for h in free if h not in stamps and h not in taken])
    return guesses


def _id_guesses(frame: pl.DataFrame, key: str, candidates: list[str]) -> list[Guess]:
    """Columns with a short value on every row, no two alike: the one such column, or the one named like an id."""
    height = frame.height
    unique = [
        h
        for h in candidates
        if frame[h].null_count() == 0
        and frame[h].n_unique() == height
        and frame[h].str.len_chars().max() <= 64
        and not frame[h].str.contains(r"\s").any()
    ]
    if not unique:
        return []
    named = [h for h in unique if ID_WORDS.search(re.sub(r"(?<=[a-z])(?=[A-Z])", " ", h))]  # caseRef: case Ref
    best = (named or unique)[0]
    if len(unique) == 1:
        confidence = 0.9
    elif len(named) == 1:
        confidence = 0.85
    else:
        confidence = 0.6
    name_note = ", and its name reads as an identifier" if best in named else ""
    others = f"; {len(unique) - 1} other column(s) are unique too" if len(unique) > 1 else ""
    reason = f"every one of its {height} rows has a value and no two are alike{name_note}{others}"
    return [Guess(key, best, reason, confidence)]


def _timestamp_columns(sample: pl.DataFrame, columns: list[str]) -> dict[str, pl.Series]:
    """The columns whose values (nearly all) read as dates and times, parsed.

    Plain numbers are dates only in a column named like a time ('Time', 'unixReviewTime'): a
    person reads 1303862400 there as a Unix time, but in 'Ticket ID' as an id.
    """
    found = {}
    for column in columns:
        values = sample[column]
        present = values.drop_nulls()
        numbers = present.len() > 0 and present.str.contains(r"^[\d.,+-]+$").all()
        if present.len() == 0 or (numbers and not TIME_WORDS.intersection(header_words(column))):
            continue
        parsed = _stamps(sample, column)
        if parsed is not None:
            found[column] = parsed
    return found


def _stamps(frame: pl.DataFrame, column: str) -> pl.Series | None:
    """The column parsed as timestamps, or None when under 95% of its present values parse."""
    values = frame[column]
    present = values.len() - values.null_count()
    if present == 0:
        return None
    parsed = parse_timestamps(values, column).values
    return parsed if present - (parsed.len() - parsed.null_count()) <= 0.05 * present else None


def _opening_guesses(stamps: dict[str, pl.Series], time_column: str) -> list[Guess]:
    """The timestamp column filled on every row and never after another: when the record was opened."""
    full = {h: s for h, s in stamps.items() if s.null_count() == 0}
    if len(stamps) == 1 and full:
        (only,) = full
        return [Guess(time_column, only, "the only column of dates and times, with one on every row", 0.85)]
    earliest = [h for h, s in full.items() if all(_never_after(s, other) for o, other in stamps.items() if o != h)]
    if len(earliest) == 1:
        later = ", ".join(repr(o) for o in stamps if o != earliest[0])
        reason = f"dated on every row and never after {later}, as an opening comes before a closing"
        return [Guess(time_column, earliest[0], reason, 0.85)]
    return [Guess(time_column, h, "dated on every row", 0.5) for h in full]


def _closing_guesses(opened: str, opened_at: pl.Series, stamps: dict[str, pl.Series]) -> list[Guess]:
    """The one other timestamp column never before the opening: when the ticket was closed (empty while open)."""
    later = [h for h, s in stamps.items() if _never_after(opened_at, s)]
    if len(later) != 1:
        return []
    closed = later[0]
    empty = stamps[closed].null_count()
    note = f", empty on {empty} row(s) (still open)" if empty else ""
    return [Guess("closed_at", closed, f"never before {opened!r} on any row{note}", 0.8)]


def _never_after(first: pl.Series, second: pl.Series) -> bool:
    """True when ``first`` is on or before ``second`` on every row that has both, and some row has both."""
    both = pl.DataFrame({"a": first, "b": second}).drop_nulls()
    return both.height > 0 and bool((both["a"] <= both["b"]).all())


def _score_guesses(sample: pl.DataFrame, candidates: list[str]) -> list[Guess]:
    """Columns of whole numbers within 1-5 or 0-10 (two values or more): the score, when only one is."""
    found = []
    for column in candidates:
        numbers = sample[column].drop_nulls().cast(pl.Int64, strict=False)
        if numbers.len() == 0 or numbers.null_count() or numbers.n_unique() < 2:
            continue
        low, high = numbers.min(), numbers.max()
        scale = next(((a, b) for a, b in SCALES if a <= low and high <= b), None)  # type: ignore[operator]
        if scale:
            found.append((column, scale))
    confidence = 0.85 if len(found) == 1 else 0.5
    return [
        Guess("score", column, f"whole numbers from {low} to {high} only, as a {low}-{high} rating", confidence)
        for column, (low, high) in found
    ]
