"""Segments: the one type for "these values of these dimensions", as filters, limits and a user's restriction.

Grain: one entry per dimension, each with its values, ``(("team", ("Billing",)), ("channel", ("email", "chat")))``;
empty means no restriction (the whole organisation). It is a tuple of tuples so it can be hashed (a cache
key, a frozen dataclass field). It lives this low because sign-in (a user's segments) needs it as much
as the KPIs (a query's filters) do; what a limit allows is sign-in's rule (``pipelines.signin.access``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

Segments = tuple[tuple[str, tuple[str, ...]], ...]


def as_segments(values: Mapping[str, Iterable[str]]) -> Segments:
    """``{"team": ["Billing"]}`` as segments, dimensions and values in the order given."""
    return tuple((dimension, tuple(chosen)) for dimension, chosen in values.items())
