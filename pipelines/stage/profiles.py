"""Header-mapping profiles: plain TOML data in ``pipelines/stage/profiles/``, one file per source tool.

A profile maps canonical columns to the headers a tool writes; an alias is a header or a
list of headers joined with a space (a date column and a time column). Aliases under
``[kind_columns.<kind>]`` are read only when loading that kind, after the others: what a survey
answer rates is its "ticket", so a shop's order id is one there, but not in a ticket export.
The profile that matches a file's headers best is chosen unless the user names one.
"""

from __future__ import annotations

import re
import tomllib
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

from pipelines.common.errors import IngestError
from pipelines.warehouse.schema import TABLES

# Source columns a profile may map that are not stored as such but feed a stored column.
PSEUDO_COLUMNS = {
    "first_response_minutes": ("minutes from created_at to the first response", ("tickets", "complaints")),
    "first_response_hours": ("hours from created_at to the first response", ("tickets", "complaints")),
    "resolution_minutes": ("minutes from created_at to resolution", ("tickets", "complaints")),
    "resolution_hours": ("hours from created_at to resolution", ("tickets", "complaints")),
    "message_id": ("message identifier in a conversation log", ("tickets",)),
    "author": ("message author in a conversation log", ("tickets",)),
    "is_inbound": ("whether a message came from the customer", ("tickets",)),
    "in_reply_to": ("the message this one answers", ("tickets",)),
}
TRANSFORMS = ("event_log", "conversation")
PROFILE_DIR = Path(__file__).parent / "profiles"


def header_key(header: str) -> str:
    """A header as a person reads it: case, spaces, underscores and punctuation ignored.

    'Date received', 'date_received', 'DATE-RECEIVED' and 'dateReceived' are one key; so are
    'Ticket #' and 'ticket'. Full-width letters and digits fold to their plain forms (NFKC).
    A header of punctuation only keeps its text, so '#' still matches only '#'; so does one
    starting with two underscores, a tool's own column (pandas' '__index_level_0__'), not a
    person's: '__reason' is not 'Reason'.
    """
    folded = unicodedata.normalize("NFKC", header).casefold().strip()
    if folded.startswith("__"):
        return folded
    return re.sub(r"[\W_]+", "", folded) or folded


@dataclass(frozen=True)
class Profile:
    name: str
    label: str
    kinds: tuple[str, ...]
    columns: dict[str, tuple[tuple[str, ...], ...]]
    signature: tuple[str, ...] = ()
    signature_min: int = 0
    constants: dict[str, str] = field(default_factory=dict)
    status_map: dict[str, str] = field(default_factory=dict)
    options: dict = field(default_factory=dict)
    source: str = ""
    # Aliases read only when loading one kind, after the general ones: kind -> canonical -> aliases.
    kind_columns: dict[str, dict[str, tuple[tuple[str, ...], ...]]] = field(default_factory=dict)

    def columns_for(self, kind: str) -> dict[str, tuple[tuple[str, ...], ...]]:
        """Canonical column -> its aliases when loading ``kind``: the general ones, then that kind's own."""
        extra = self.kind_columns.get(kind, {})
        merged = {canonical: aliases + extra.get(canonical, ()) for canonical, aliases in self.columns.items()}
        return {**merged, **{c: a for c, a in extra.items() if c not in merged}}

    def resolve(self, kind: str, headers: list[str]) -> dict[str, tuple[str, ...]]:
        """Canonical (or pseudo) column → the source header(s) present in this file."""
        by_norm = {}
        for header in headers:
            by_norm.setdefault(header_key(header), header)
        wanted = set(TABLES[kind].column_names) | {p for p, (_, kinds) in PSEUDO_COLUMNS.items() if kind in kinds}
        mapping: dict[str, tuple[str, ...]] = {}
        used: set[str] = set()
        for canonical, aliases in self.columns_for(kind).items():
            if canonical not in wanted:
                continue
            for alias in aliases:
                found = tuple(by_norm.get(header_key(part)) for part in alias)
                if all(found) and not used.intersection(found):
                    mapping[canonical] = found  # type: ignore[assignment]
                    used.update(found)  # type: ignore[arg-type]
                    break
        return mapping

    def order_columns(self, headers: list[str]) -> list[str]:
        """The file's headers for the profile's ``order_by`` columns (in any case or separator), in its order."""
        by_key = {}
        for header in headers:
            by_key.setdefault(header_key(header), header)
        found = (by_key.get(header_key(name)) for name in self.options.get("order_by", []))
        return [header for header in found if header]

    def score(self, kind: str, headers: list[str]) -> float:
        """How well this profile fits: mapped columns, plus a large bonus for its signature."""
        if kind not in self.kinds:
            return -1.0
        norm = {header_key(h) for h in headers}
        signature_hits = sum(1 for s in self.signature if header_key(s) in norm)
        if self.signature and signature_hits < self.signature_min:
            return -1.0
        mapping = self.resolve(kind, headers)
        table = TABLES[kind]
        has_key = (
            table.key in mapping
            or self.options.get("transform") == "conversation"
            or (kind == "surveys" and "ticket_id" in mapping)
        )
        time_column = "responded_at" if kind == "surveys" else "created_at"
        if not has_key or time_column not in mapping:
            return 0.0
        return len(mapping) + 5.0 * signature_hits


def _aliases(table: dict) -> dict[str, tuple[tuple[str, ...], ...]]:
    """Each canonical column's aliases as tuples of headers (one header, or several joined)."""
    return {
        canonical: tuple((a,) if isinstance(a, str) else tuple(a) for a in aliases)
        for canonical, aliases in table.items()
    }


def _parse_profile(data: dict, source: str) -> Profile:
    columns = _aliases(data.get("columns", {}))
    kind_columns = {kind: _aliases(table) for kind, table in data.get("kind_columns", {}).items()}
    options = dict(data.get("options", {}))
    if options.get("transform") not in (None, *TRANSFORMS):
        raise ValueError(f"profile {data.get('name')}: unknown transform {options['transform']!r}")
    return Profile(
        name=data["name"],
        label=data.get("label", data["name"]),
        kinds=tuple(data.get("kinds", TABLES)),
        columns=columns,
        signature=tuple(data.get("signature", ())),
        signature_min=int(data.get("signature_min", len(data.get("signature", ())))),
        constants={k: str(v) for k, v in data.get("constants", {}).items()},
        status_map={k.lower(): v for k, v in data.get("status", {}).items()},
        options=options,
        source=source,
        kind_columns=kind_columns,
    )


def builtin_profiles() -> dict[str, Profile]:
    """Every profile shipped in pipelines/stage/profiles, by name."""
    profiles = {}
    for entry in sorted(PROFILE_DIR.glob("*.toml")):
        profile = _parse_profile(tomllib.loads(entry.read_text(encoding="utf-8")), entry.name)
        profiles[profile.name] = profile
    return profiles


def load_profile_file(path: str | Path) -> Profile:
    """A user's own profile file, same format as the built-in ones."""
    path = Path(path)
    try:
        return _parse_profile(tomllib.loads(path.read_text(encoding="utf-8")), str(path))
    except (OSError, tomllib.TOMLDecodeError, KeyError, ValueError) as exc:
        raise IngestError(path.name, f"unusable profile file: {exc}") from exc


def choose_profile(kind: str, headers: list[str], file_name: str, requested: str | None = None) -> Profile:
    """The named profile (a built-in name or a .toml path), or the best match for the headers."""
    profiles = builtin_profiles()
    if requested:
        if requested.endswith(".toml"):
            return load_profile_file(requested)
        if requested not in profiles:
            raise IngestError(file_name, f"unknown profile {requested!r} (known: {', '.join(profiles)})")
        return profiles[requested]
    ranked = sorted(profiles.values(), key=lambda p: (p.score(kind, headers), p.name != "generic"), reverse=True)
    best = ranked[0]
    if best.score(kind, headers) <= 0:
        return profiles["generic"]
    return best
