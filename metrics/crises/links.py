"""What a shared link's query string may say, parsed in one place for every page.

A link is typed, pasted and forged by people: ``str.isdigit()`` accepts ``²`` and ``٣``, which
``int()`` then refuses, and a number past DuckDB's BIGINT fails in the query instead of here.
"""

from __future__ import annotations

import re

# [0-9], not \d: \d also matches the digits of every other script.
_ASCII_DIGITS = re.compile(r"[0-9]{1,19}")
BIGINT_MAX = 2**63 - 1


def parse_id(text: str | None) -> int | None:
    """The positive whole number a link names (a crisis id), or None when the text is not one.

    None for ``²``, ``٣``, ``-1``, ``0``, ``1e3``, ``" 5"``, the empty text and anything past BIGINT.
    """
    if text is None or not _ASCII_DIGITS.fullmatch(text):
        return None
    number = int(text)
    return number if 1 <= number <= BIGINT_MAX else None


def describe_bad_id(name: str, text: str) -> str:
    """The one line a page shows for a link whose ``name`` is not a number it can use."""
    shown = text if len(text) <= 40 else text[:40] + "…"
    return f"The link's {name} {shown!r} is not a {name} number; showing the first one instead."
