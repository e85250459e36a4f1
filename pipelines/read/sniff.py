"""Sniffing a file before it is read: its format, its text encoding, its delimiter and the preamble above its header.

Grain: one answer per file, from its first bytes (``SNIFF_BYTES``) or its whole content.
"""

from __future__ import annotations

import codecs
import csv
from pathlib import Path

SNIFF_BYTES = 256 * 1024
DELIMITERS = (",", "\t", ";", "|")
MAX_PREAMBLE_LINES = 30


def detect_encoding(data: bytes) -> tuple[str, str]:
    """Return (encoding label, decoded text).

    Order matters: UTF-8 (with or without BOM), UTF-16 with a BOM, then GB18030, and only
    then a statistical detector, because detectors take short GBK text for Korean.
    """
    if data.startswith(codecs.BOM_UTF8):
        # The mark can be wrong (a tool adds it to GBK text), and UTF-8 after it can hold a bad byte.
        label, text = detect_encoding(data[len(codecs.BOM_UTF8) :])
        return ("utf-8-sig" if label == "utf-8" else label), text
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        label = "utf-16-le" if data.startswith(codecs.BOM_UTF16_LE) else "utf-16-be"
        return label, data[2:].decode(label)
    try:
        return "utf-8", data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    lossy = data.decode("utf-8", errors="replace")
    invalid = lossy.count(REPLACEMENT) - data.decode("utf-8", "ignore").count(REPLACEMENT)
    few_invalid = 0 < invalid <= min(MAX_INVALID_UTF8, max(1, data.count(b"\n") // LINES_PER_INVALID_UTF8))
    # GB18030 decodes almost any even run of UTF-8 Chinese, as gibberish; many good UTF-8
    # characters around a few bad bytes say the file is UTF-8. GBK text makes few by chance.
    if few_invalid and len(lossy) - len(lossy.encode("ascii", "ignore")) - invalid >= 2 * invalid:
        return "utf-8", lossy
    try:
        return "gb18030", data.decode("gb18030")
    except UnicodeDecodeError:
        pass
    if few_invalid:
        return "utf-8", lossy
    from charset_normalizer import from_bytes

    best = from_bytes(data[:SNIFF_BYTES]).best()
    if best is not None:
        try:
            return best.encoding, data.decode(best.encoding)
        except (UnicodeDecodeError, LookupError):
            pass
    raise UnicodeDecodeError("unknown", data[:1], 0, 1, "no known encoding decodes this file")


REPLACEMENT = "\ufffd"
# A UTF-8 file with at most this many undecodable bytes, one per this many lines at most, is
# UTF-8 with a few corrupt bytes (whose rows are rejected), not a file in another encoding.
MAX_INVALID_UTF8 = 20
LINES_PER_INVALID_UTF8 = 100


def sniff_format(name: str, data: bytes) -> str:
    """csv, excel, parquet, json or jsonl, from the content first and the name second."""
    if data[:4] == b"PAR1":
        return "parquet"
    if data[:4] == b"PK\x03\x04":
        return "excel"
    if data[:8] == b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1":
        return "xls"
    head = data[:SNIFF_BYTES].lstrip(codecs.BOM_UTF8).lstrip()
    if data.startswith(codecs.BOM_UTF16_LE) or data.startswith(codecs.BOM_UTF16_BE):  # JSON told by its start
        head = data[2:SNIFF_BYTES].decode(detect_encoding(data[:2])[0], "ignore").encode().lstrip()
    suffix = Path(name).suffix.lower()
    if head[:1] == b"[" or (head[:1] == b"{" and suffix == ".json"):
        return "json"
    if head[:1] == b"{":
        return "jsonl"
    return "csv"


def _field_counts(lines: list[str], delimiter: str) -> list[int]:
    try:
        return [len(row) for row in csv.reader(lines, delimiter=delimiter)]
    except csv.Error:  # a quote left open (a truncated record): line by line it spoils one line only
        return [len(next(csv.reader([line], delimiter=delimiter), [])) for line in lines]


def sniff_layout(text: str) -> tuple[str, int]:
    """Return (delimiter, number of preamble lines before the header).

    The header is the first line whose field count matches the records that follow it,
    so console output or report titles above the table are skipped.
    """
    sample_lines = text[:SNIFF_BYTES].splitlines()[: MAX_PREAMBLE_LINES + 200]
    if len(text) > SNIFF_BYTES and len(sample_lines) > 1:
        sample_lines = sample_lines[:-1]  # the cut may have split the last line
    best: tuple[float, str, int] | None = None
    for delimiter in DELIMITERS:
        for skip in range(min(MAX_PREAMBLE_LINES, max(len(sample_lines) - 1, 1))):
            try:
                counts = _field_counts(sample_lines[skip:], delimiter)
            except csv.Error:
                continue
            if not counts or counts[0] < 2:
                continue
            body = counts[1:] or counts
            consistency = sum(1 for c in body if c == counts[0]) / len(body)
            if consistency >= 0.5:
                score = consistency * min(counts[0], 50)
                if best is None or score > best[0]:
                    best = (score, delimiter, skip)
                break
    if best is None:
        lines = [line for line in sample_lines if line.strip()]
        if len(lines) >= 1 and all(len(row) == 1 for row in csv.reader(lines)):
            return ",", 0  # a single-column table
        raise ValueError("no table found: the file has no line that looks like a header with columns")
    return best[1], best[2]
