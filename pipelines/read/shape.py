"""Whether every record of a large UTF-8 text file is as wide as its header, told by a vectorised byte scan.

Python's csv reader took a second pass over the whole file (16 s of a 43 s load of 1M wide
rows) only to find that no record was misshapen, as in nearly every export. This scan answers
the same question at NumPy speed for files whose quoting is plain: a quote opens a field only
at its start (or doubles one inside a quoted field), so counting quotes tells inside from outside
exactly as Python's reader does. Anything else (a misshapen record, a stray quote, a NUL, a
record cut inside quotes, a field over the limit) answers None, and the caller asks Python's
reader, which names each record and its reason.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

CHUNK = 2 * 1024 * 1024  # small enough for the CPU cache-friendly passes; larger chunks ran slower
QUOTE, LF, NUL = ord('"'), ord("\n"), 0


@dataclass
class _Carry:
    """What one chunk hands the next: where the scan stands at its end."""

    offset: int = 0  # the file offset of the chunk
    inside: int = 0  # 1 while inside a quoted field
    fields: int = 0  # separators seen outside quotes in the record so far
    record_start: int = 0  # where the record so far began
    last_separator: int = -1  # the last separator or record end (outside quotes)
    previous: int = LF  # the byte before the chunk


def _body_offset(path: Path, skip: int) -> int:
    with path.open("rb") as handle:
        for _ in range(skip):
            handle.readline()
        return handle.tell()


def all_records_fit(path: Path, skip: int, width: int, delimiter: str, field_limit: int) -> bool:
    """True when every record after the first ``skip`` lines has ``width`` fields, none over ``field_limit``
    bytes, and the file does not end inside quotes; False when that cannot be told this way."""
    if len(delimiter.encode("utf-8")) != 1:
        return False
    separator = delimiter.encode("utf-8")[0]
    carry = _Carry(offset=_body_offset(path, skip))
    carry.record_start = carry.offset
    carry.last_separator = carry.offset - 1
    with path.open("rb") as handle:
        handle.seek(carry.offset)
        while chunk := handle.read(CHUNK):
            if not _scan(np.frombuffer(chunk, dtype=np.uint8), carry, separator, width, field_limit):
                return False
    end = carry.offset
    if carry.inside:
        return False  # the last record is cut inside its quotes
    if end > carry.record_start and carry.fields + 1 != width:
        return False  # a last record without a line end, not as wide as the header
    return end - carry.last_separator - 1 <= field_limit


def _scan(data: np.ndarray, carry: _Carry, separator: int, width: int, field_limit: int) -> bool:
    """One chunk: False at anything not plain; else ``carry`` is moved to the chunk's end."""
    if (data == NUL).any():
        return False  # Python's reader refuses a NUL: it must say so
    quoted = data == QUOTE
    # Inside quotes after each byte: an odd count of quotes so far (a count mod 256 keeps its parity).
    inside = (np.cumsum(quoted, dtype=np.uint8) & 1).astype(bool) ^ bool(carry.inside)
    # A quote that opens (inside after it) must start a field or double a quote.
    before = np.empty_like(data)
    before[0], before[1:] = carry.previous, data[:-1]
    opening = quoted & inside
    if (opening & (before != separator) & (before != LF) & (before != QUOTE)).any():
        return False
    outside = np.flatnonzero(((data == separator) | (data == LF)) & ~inside)
    absolute = outside + carry.offset
    gaps = np.diff(absolute, prepend=carry.last_separator) - 1
    if gaps.size and int(gaps.max()) > field_limit:
        return False
    ends = np.flatnonzero(data[outside] == LF)
    # Separators before each record end, this record's carried ones counted in the first.
    counts = np.diff(ends, prepend=-1) + np.r_[carry.fields, np.zeros(max(ends.size - 1, 0), dtype=np.int64)]
    starts = np.r_[carry.record_start, absolute[ends[:-1]] + 1] if ends.size else np.empty(0, dtype=np.int64)
    blank = absolute[ends] == starts  # an empty line is no record, to Python's reader as here
    if ends.size and not ((counts == width) | blank).all():
        return False
    if ends.size:
        carry.fields = outside.size - int(ends[-1]) - 1
        carry.record_start = int(absolute[ends[-1]]) + 1
    else:
        carry.fields += outside.size
    if absolute.size:
        carry.last_separator = int(absolute[-1])
    carry.inside = int(inside[-1])
    carry.previous = int(data[-1])
    carry.offset += data.size
    return True
