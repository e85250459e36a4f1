"""Column overrides (``canonical=Source header``): the one parser of the command line's ``--map`` pairs.

The Upload page's mapper hands its drop-downs' choices as the same mapping: a canonical column to
a source header, ``A+B`` for two joined, and an empty header for "no column" (``(none)``).
"""

from __future__ import annotations

from pipelines.common.errors import IngestError


def parse_column_overrides(pairs: list[str]) -> dict[str, str]:
    """``["ticket_id=Case No", ...]`` as a mapping; a pair without ``=`` or a canonical name is refused.

    ``closed_at=`` (nothing after ``=``) reads no column as closed_at, not even a guessed one.
    """
    mapping = {}
    for pair in pairs:
        canonical, sep, source = pair.partition("=")
        if not sep or not canonical.strip():
            raise IngestError("--map", f"expected CANONICAL=SOURCE, got {pair!r}")
        mapping[canonical.strip()] = source.strip()
    return mapping
