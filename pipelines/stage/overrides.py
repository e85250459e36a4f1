"""Column overrides (``canonical=Source header``): the one parser, for the command line's ``--map``
and the Upload page's text box alike, so a pair one face refuses the other does not drop."""

from __future__ import annotations

from pipelines.common.errors import IngestError


def parse_column_overrides(pairs: list[str]) -> dict[str, str]:
    """``["ticket_id=Case No", ...]`` as a mapping; a pair without ``=`` or with a blank side is refused."""
    mapping = {}
    for pair in pairs:
        canonical, sep, source = pair.partition("=")
        if not sep or not canonical.strip() or not source.strip():
            raise IngestError("--map", f"expected CANONICAL=SOURCE, got {pair!r}")
        mapping[canonical.strip()] = source.strip()
    return mapping
