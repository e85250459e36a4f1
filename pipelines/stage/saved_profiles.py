"""Saved profiles: column mappings a user confirmed, kept by name in the warehouse (table ``saved_profiles``).

Grain: one ``SavedProfile`` per name, for one kind of file and one set of headers (each folded
by ``header_key``, so 'Case Ref' and 'case_ref' are one header). A saved profile is the built-in
profile it was confirmed on (its statuses, transforms and options) reading exactly the confirmed
columns, in the zone and on the scale chosen then. Detection prefers the saved profile whose
header set is the file's: the next export of that shape is read as the last one was confirmed,
with no questions, on the Upload page and on the command line alike.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from datetime import UTC, datetime

import duckdb

from pipelines.common.errors import IngestError
from pipelines.stage.profiles import Profile, builtin_profiles, choose_profile, header_key

MAX_NAME = 60


@dataclass(frozen=True)
class SavedProfile:
    """One confirmed mapping: canonical (or pseudo) column -> the file's header(s) it is read from."""

    name: str
    kind: str
    header_set: tuple[str, ...]  # the file's folded headers, sorted
    columns: dict[str, tuple[str, ...]]
    based_on: str = "generic"  # a built-in profile's name
    source_tz: str | None = None
    scale: str | None = None

    def profile(self) -> Profile:
        """The profile a load reads with: its base's options, exactly these columns, its zone and scale."""
        profiles = builtin_profiles()
        base = profiles.get(self.based_on, profiles["generic"])
        options = {**base.options, "based_on": base.name, "saved": True}
        options.update({k: v for k, v in (("scale", self.scale), ("source_tz", self.source_tz)) if v})
        return dataclasses.replace(
            base,
            name=self.name,
            label=f"{self.name} (saved)",
            kinds=(self.kind,),
            columns={column: (parts,) for column, parts in self.columns.items()},
            signature=(),
            signature_min=0,
            options=options,
            source="warehouse",
        )


def header_set(headers: list[str]) -> tuple[str, ...]:
    """A file's headers as a person reads them (``header_key``), sorted: what a saved profile is matched on."""
    return tuple(sorted({header_key(h) for h in headers}))


def based_on(profile: Profile) -> str:
    """The built-in profile ``profile`` is, or was saved from."""
    return profile.options.get("based_on", profile.name)


def check_profile_name(file_name: str, name: str) -> str:
    """``name`` stripped, or IngestError when it cannot name a saved profile (blank, too long, a built-in's)."""
    cleaned = name.strip()
    if not cleaned or len(cleaned) > MAX_NAME or cleaned.endswith(".toml") or cleaned.startswith("("):
        raise IngestError(file_name, f"a profile is saved under a name of 1 to {MAX_NAME} characters, not {name!r}")
    if cleaned in builtin_profiles():
        raise IngestError(file_name, f"{cleaned!r} is a built-in profile; save the mapping under another name")
    return cleaned


def saved_profiles(con: duckdb.DuckDBPyConnection) -> dict[str, SavedProfile]:
    """Every saved profile, by name; none in a warehouse opened read-only before the table existed."""
    try:
        rows = con.sql(
            "SELECT name, kind, header_set, columns, based_on, source_tz, scale FROM saved_profiles ORDER BY name"
        ).fetchall()
    except duckdb.CatalogException:
        return {}
    return {
        name: SavedProfile(
            name,
            kind,
            tuple(json.loads(headers)),
            {column: tuple(parts) for column, parts in json.loads(columns).items()},
            based,
            zone,
            scale,
        )
        for name, kind, headers, columns, based, zone, scale in rows
    }


def save_profile(con: duckdb.DuckDBPyConnection, saved: SavedProfile, saved_by: str) -> None:
    """Keep ``saved`` under its name, replacing the profile of that name (a mapping confirmed again)."""
    con.execute(
        "INSERT OR REPLACE INTO saved_profiles VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            saved.name,
            saved.kind,
            json.dumps(list(saved.header_set), ensure_ascii=False),
            json.dumps({c: list(p) for c, p in saved.columns.items()}, ensure_ascii=False),
            saved.based_on,
            saved.source_tz,
            saved.scale,
            datetime.now(UTC),
            saved_by,
        ],
    )


def detect_profile(
    kind: str,
    headers: list[str],
    file_name: str,
    requested: str | None = None,
    saved: dict[str, SavedProfile] | None = None,
) -> Profile:
    """The profile named (saved or built-in), else the saved one for these headers, else the best built-in match."""
    saved = saved or {}
    if requested in saved:
        chosen = saved[requested]
        if chosen.kind != kind:
            raise IngestError(file_name, f"profile {requested!r} was saved for {chosen.kind}, not {kind}")
        return chosen.profile()
    if requested:
        return choose_profile(kind, headers, file_name, requested)
    shape = header_set(headers)
    matching = [s for s in saved.values() if s.kind == kind and s.header_set == shape]
    if matching:
        return min(matching, key=lambda s: s.name).profile()  # two of one shape: the first by name, always
    return choose_profile(kind, headers, file_name)
