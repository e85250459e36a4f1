"""The column mapper's facts: for each canonical column of a kind, the file's column proposed for it and why.

Grain: one ``Field`` per column of the kind's table (the ones a load cannot do without first),
each with the file's header(s) staging would read it from with no overrides (the profile's, or a
confident guess's) and the reason; plus, per header of the file, a few sample values (masked as
the interface masks personal data). The user's choices go back to staging as overrides: only the
fields they changed, an empty header meaning "no column".
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from pipelines.read.raw import RawExport
from pipelines.stage.matching import required_columns
from pipelines.stage.personal import mask
from pipelines.stage.profiles import Profile
from pipelines.stage.staging import proposed_columns
from pipelines.stage.values import normalise_nulls
from pipelines.warehouse.schema import TABLES

SAMPLES = 3
# Columns a load computes, never reads from a file: a day's segment key, a top-two-box flag.
COMPUTED = {"order_count_id", "is_satisfied"}
# A survey answer's id may be its ticket's: either one will do.
EITHER_ID = ("response_id", "ticket_id")
# Rows looked at for sample values: the first ones hold enough distinct values to recognise a column.
SAMPLE_ROWS = 500


@dataclass(frozen=True)
class Field:
    """One canonical column, the file's column(s) proposed for it, and why."""

    column: str
    description: str
    need: str  # '' or what the mapper says beside the name: 'required', 'required, or ticket_id'
    proposed: tuple[str, ...]  # the file's header(s), joined with '+' when several; () for none
    why: str  # "profile generic", "guessed: ... (90%)", "perhaps 'X': ... (60%)" or ""

    @property
    def required(self) -> bool:
        return bool(self.need)

    @property
    def choice(self) -> str:
        """The proposal as the mapper offers it: a header, 'Date+Time', or '' for none."""
        return "+".join(self.proposed)


@dataclass(frozen=True)
class ColumnChoices:
    """What the mapper shows for one file read with one profile."""

    kind: str
    profile: str
    fields: tuple[Field, ...]
    headers: tuple[str, ...]
    samples: dict[str, tuple[str, ...]]  # header -> its first distinct values

    def overrides(self, chosen: dict[str, str]) -> dict[str, str]:
        """The choices that differ from the proposal, as staging's overrides ('' reads no column)."""
        proposed = {f.column: f.choice for f in self.fields}
        return {column: header for column, header in chosen.items() if proposed.get(column, "") != header}

    def missing(self, chosen: dict[str, str]) -> list[str]:
        """The required columns ``chosen`` gives no column (a survey answer needs its id or its ticket's)."""
        missing = [f.column for f in self.fields if f.required and not chosen.get(f.column)]
        if self.kind == "surveys" and set(EITHER_ID) <= set(missing):
            return [" or ".join(EITHER_ID), *(c for c in missing if c not in EITHER_ID)]
        return [c for c in missing if self.kind != "surveys" or c not in EITHER_ID]


def column_choices(raw: RawExport, kind: str, profile: Profile) -> ColumnChoices:
    """The mapper for ``raw`` read as ``kind`` with ``profile``: every field, required ones first."""
    table = TABLES[kind]
    mapping, guesses = proposed_columns(raw, kind, profile)
    required = set(required_columns(kind))
    if profile.options.get("transform") == "conversation":
        required.discard(table.key)  # its tickets are keyed by their threads
    fields = []
    for column in (c for c in table.columns if c.name not in COMPUTED):
        proposed = mapping.get(column.name, ())
        used = next((g for g in guesses if g.column == column.name and (g.source,) == proposed), None)
        unsure = next((g for g in guesses if g.column == column.name and not g.confident), None)
        if used is not None:
            why = f"guessed: {used.reason} ({used.confidence:.0%})"
        elif proposed:
            why = f"profile {profile.name}"
        elif unsure is not None:
            why = f"perhaps {unsure.source!r}: {unsure.reason} ({unsure.confidence:.0%})"
        else:
            why = ""
        need = "required" if column.name in required else ""
        if need and kind == "surveys" and column.name in EITHER_ID:
            need = f"required, or {next(c for c in EITHER_ID if c != column.name)}"
        fields.append(Field(column.name, column.description, need, proposed, why))
    fields.sort(key=lambda f: not f.required)  # stable: the table's order within each group
    return ColumnChoices(kind, profile.name, tuple(fields), tuple(raw.source_columns), _samples(raw))


def _samples(raw: RawExport) -> dict[str, tuple[str, ...]]:
    """Each header's first few distinct values, personal ones masked."""
    headers = raw.source_columns
    shown = mask(normalise_nulls(raw.frame.select(headers).head(SAMPLE_ROWS), headers))
    return {h: tuple(shown[h].drop_nulls().unique(maintain_order=True).head(SAMPLES).cast(pl.String)) for h in headers}
